/**
 * Maintenance windows and lockouts, evaluated against an injected instant.
 * Pure functions: wall-clock time comes from `Intl.DateTimeFormat`, so time
 * zones and daylight saving follow the runtime's IANA database.
 *
 * @module
 */
import { DAYS, type Lockout, type Window } from "../config/window_schema.ts";
import type { Tier } from "../config/capabilities.ts";

const MINUTE = 60_000;
const DAY = 86_400_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 0, Tue: 1, Wed: 2, Thu: 3, Fri: 4, Sat: 5, Sun: 6 };

/** Local wall-clock facts about one instant; `*Wall` values are local times counted as if UTC. */
interface WallClock {
  readonly wall: number;
  readonly dayStart: number;
  readonly weekday: number;
}

function wallClock(instant: number, timezone: string): WallClock {
  let format = formatters.get(timezone);
  if (format === undefined) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      weekday: "short",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    formatters.set(timezone, format);
  }
  const p: Record<string, string> = {};
  for (const part of format.formatToParts(instant)) p[part.type] = part.value;
  const dayStart = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day));
  const wall = dayStart + (Number(p.hour) * 60 + Number(p.minute)) * MINUTE +
    Number(p.second) * 1000 + (instant % 1000 + 1000) % 1000;
  return { wall, dayStart, weekday: WEEKDAYS[p.weekday] };
}

/** The instant at which a zone's wall clock shows `wall`; in a spring-forward gap, the jump itself. */
function instantOf(wall: number, timezone: string): number {
  const offsets = [wall - DAY, wall, wall + DAY].map((t) => wallClock(t, timezone).wall - t);
  const exact = offsets.map((o) => wall - o).filter((t) => wallClock(t, timezone).wall === wall);
  if (exact.length > 0) return Math.min(...exact);
  let lo = wall - Math.max(...offsets);
  let hi = wall - Math.min(...offsets);
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2);
    if (wallClock(mid, timezone).wall >= wall) hi = mid;
    else lo = mid;
  }
  return hi;
}

/** The range of a window that contains the instant, as local start and end. */
function openRange(window: Window, instant: number): { start: number; end: number } | undefined {
  const { wall, dayStart, weekday } = wallClock(instant, window.timezone);
  const today = window.days.includes(DAYS[weekday]);
  const yesterday = window.days.includes(DAYS[(weekday + 6) % 7]);
  for (const { start, end } of window.hours) {
    const from = dayStart + start * MINUTE;
    if (start < end) {
      if (today && wall >= from && wall < dayStart + end * MINUTE) {
        return { start: from, end: dayStart + end * MINUTE };
      }
    } else if (today && wall >= from) {
      return { start: from, end: dayStart + DAY + end * MINUTE };
    } else if (yesterday && wall < dayStart + end * MINUTE) {
      return { start: from - DAY, end: dayStart + end * MINUTE };
    }
  }
  return undefined;
}

function nextOpening(
  windows: readonly Window[],
  now: Date,
): { start: Date; timezone: string } | undefined {
  let best: { start: Date; timezone: string } | undefined;
  for (const window of windows) {
    const { dayStart, weekday } = wallClock(now.getTime(), window.timezone);
    for (let offset = 0; offset <= 7; offset++) {
      if (!window.days.includes(DAYS[(weekday + offset) % 7])) continue;
      for (const { start } of window.hours) {
        const at = instantOf(dayStart + offset * DAY + start * MINUTE, window.timezone);
        if (at > now.getTime() && (best === undefined || at < best.start.getTime())) {
          best = { start: new Date(at), timezone: window.timezone };
        }
      }
    }
  }
  return best;
}

/**
 * Whether an instant lies inside any of the windows. No windows means no restriction.
 *
 * @param windows Validated windows.
 * @param now The instant to test.
 * @returns `true` when inside a window, or when `windows` is empty.
 */
export function isInside(windows: readonly Window[], now: Date): boolean {
  return windows.length === 0 || windows.some((w) => openRange(w, now.getTime()) !== undefined);
}

/**
 * When the next window opens, strictly after `now`.
 *
 * @param windows Validated windows.
 * @param now The instant to start from.
 * @returns The next opening, or `undefined` when there are no windows.
 */
export function nextWindowStart(windows: readonly Window[], now: Date): Date | undefined {
  return nextOpening(windows, now)?.start;
}

/**
 * The lockout in force at an instant, with the instant it ends.
 *
 * @param lockouts Validated lockouts.
 * @param now The instant to test.
 * @returns The first active lockout and its end, or `undefined` when none is active.
 */
export function activeLockout(
  lockouts: readonly Lockout[],
  now: Date,
): { lockout: Lockout; until: Date } | undefined {
  const t = now.getTime();
  for (const lockout of lockouts) {
    if ("from" in lockout) {
      if (Date.parse(lockout.from) <= t && t < Date.parse(lockout.until)) {
        return { lockout, until: new Date(lockout.until) };
      }
      continue;
    }
    const range = openRange(lockout, t);
    if (range) return { lockout, until: new Date(instantOf(range.end, lockout.timezone)) };
  }
  return undefined;
}

/**
 * Formats an instant as wall-clock time in a zone, e.g. `Sat 2025-01-04 22:00 Europe/Berlin`.
 *
 * @param instant The instant.
 * @param timezone A valid IANA time zone.
 * @returns The text.
 */
export function formatWallTime(instant: Date, timezone: string): string {
  const { wall, weekday } = wallClock(instant.getTime(), timezone);
  const iso = new Date(wall).toISOString();
  const day = DAYS[weekday];
  return `${day[0].toUpperCase()}${day.slice(1)} ${iso.slice(0, 10)} ${
    iso.slice(11, 16)
  } ${timezone}`;
}

/** A rule's compiled time limits. */
export interface Schedule {
  /** Tiers the windows and lockouts apply to (observe is exempt unless listed). */
  readonly tiers: readonly Tier[];
  /** Windows; empty means any time. */
  readonly windows: readonly Window[];
  /** Lockouts. */
  readonly lockouts: readonly Lockout[];
}

/**
 * Why a schedule refuses a call right now, if it does.
 *
 * @param schedule The rule's schedule.
 * @param call The operation's tier and the current instant.
 * @returns `undefined` when the call may proceed, else a code and a sentence fragment.
 */
export function scheduleRefusal(
  schedule: Schedule,
  call: { tier: Tier; now: Date },
): { code: "outside_window" | "lockout"; reason: string; next?: Date } | undefined {
  if (!schedule.tiers.includes(call.tier)) return undefined;
  const locked = activeLockout(schedule.lockouts, call.now);
  if (locked) {
    const zone = "timezone" in locked.lockout ? locked.lockout.timezone : "UTC";
    const why = locked.lockout.reason ? ` (${locked.lockout.reason})` : "";
    return {
      code: "lockout",
      reason: `a lockout${why} is in force until ${formatWallTime(locked.until, zone)}`,
    };
  }
  if (isInside(schedule.windows, call.now)) return undefined;
  const next = nextOpening(schedule.windows, call.now);
  const when = next
    ? `the next window opens ${
      formatWallTime(next.start, next.timezone)
    } (${next.start.toISOString()})`
    : "no window opens within a week";
  return {
    code: "outside_window",
    reason: `it is outside the maintenance windows: ${when}`,
    next: next?.start,
  };
}
