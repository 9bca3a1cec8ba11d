/**
 * Maintenance windows and lockout periods, as written in a policy rule.
 * Schema and derived types only; `src/gate/windows.ts` evaluates them.
 *
 * @example
 * ```yaml
 * windows:
 *   - days: [sat, sun]
 *     hours: ["22:00-02:00"]     # overnight: Saturday 22:00 until Sunday 02:00, and so on
 *     timezone: Europe/Berlin
 * lockouts:
 *   - from: 2025-12-20T00:00:00+01:00
 *     until: 2026-01-06T00:00:00+01:00
 *     reason: holiday change freeze
 *   - days: [fri]
 *     hours: ["16:00-24:00"]
 *     timezone: Europe/Berlin
 *     reason: no Friday evening changes
 * ```
 *
 * @module
 */
import { z } from "zod";

/** Day names, Monday first. */
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"] as const;

/** A day name. */
export type Day = typeof DAYS[number];

const HOURS = /^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):[0-5]\d|24:00)$/;

/** Minutes since midnight of `HH:MM`. */
function minutesOf(text: string): number {
  const [h, m] = text.split(":").map(Number);
  return h * 60 + m;
}

/**
 * One `HH:MM-HH:MM` range, parsed to minutes since midnight. An end before
 * the start runs past midnight into the next day; `24:00` is the end of the day.
 */
export const hoursSchema = z.string().regex(HOURS, {
  error: (issue) =>
    `Invalid hours ${
      JSON.stringify(issue.input)
    }: expected "HH:MM-HH:MM" such as "09:00-17:00" or "22:00-02:00"`,
}).transform((text) => {
  const [start, end] = text.split("-");
  return { text, start: minutesOf(start), end: minutesOf(end) };
}).refine((range) => range.start !== range.end, {
  error: "Invalid hours: expected the end to differ from the start",
});

/** An IANA time zone name that this runtime knows, such as `Europe/Berlin`. */
export const timezoneSchema = z.string().max(64).refine((zone) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}, {
  error: (issue) =>
    `Unknown time zone ${
      JSON.stringify(issue.input)
    }: expected an IANA name such as "UTC" or "Europe/Berlin"`,
});

/** A recurring window: on these days, during these hours, in this time zone. */
export const windowSchema = z.strictObject({
  /** Days on which a range starts; an overnight range ends on the following day. */
  days: z.array(
    z.enum(DAYS, { error: "Invalid day: expected mon, tue, wed, thu, fri, sat or sun" }),
  )
    .min(1).default([...DAYS]),
  /** One or more `HH:MM-HH:MM` ranges. */
  hours: z.preprocess(
    (value) => (typeof value === "string" ? [value] : value),
    z.array(hoursSchema).min(1).max(24),
  ),
  /** Time zone of the wall-clock times; defaults to UTC. */
  timezone: timezoneSchema.default("UTC"),
});

const instantSchema = z.iso.datetime({
  offset: true,
  error: (issue) =>
    `Invalid lockout time ${
      JSON.stringify(issue.input)
    }: expected an ISO date-time with an offset such as "2025-12-20T00:00:00+01:00"`,
});

/** An absolute lockout between two instants (with explicit UTC offsets). */
export const absoluteLockoutSchema = z.strictObject({
  from: instantSchema,
  until: instantSchema,
  reason: z.string().max(200).optional(),
}).refine((l) => !(Date.parse(l.from) >= Date.parse(l.until)), {
  error: 'Invalid lockout: expected "from" to be before "until"',
});

/** A recurring lockout, written like a window. */
export const recurringLockoutSchema = windowSchema.extend({
  reason: z.string().max(200).optional(),
});

/** A lockout period: calls the rule would allow are denied while it lasts. */
export const lockoutSchema = z.union([absoluteLockoutSchema, recurringLockoutSchema], {
  error:
    "Invalid lockout: expected { from, until } ISO times with offsets, or { days, hours, timezone } like a window",
});

/** A validated window. */
export type Window = z.infer<typeof windowSchema>;
/** A validated lockout. */
export type Lockout = z.infer<typeof lockoutSchema>;
/** A parsed hours range. */
export type HoursRange = z.infer<typeof hoursSchema>;
