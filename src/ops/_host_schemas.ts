/**
 * Parameter schemas shared by the host operations (`local` and `ssh`
 * targets). Every schema is an allowlist: a value is accepted only when it has
 * the shape we expect, so nothing that reaches an argv can read as an option
 * or carry shell syntax.
 *
 * @module
 */
import { z } from "zod";
import { absolutePathSchema, type Target } from "../config/targets_schema.ts";

/**
 * A systemd unit name such as `nginx`, `nginx.service` or `getty@tty1.service`.
 * Characters are those systemd itself allows (backslash escapes excluded); a
 * leading `-` is refused so the name can never read as an option.
 */
export const unitNameSchema = z.string().regex(/^[A-Za-z0-9@_.:][A-Za-z0-9@_.:-]{0,127}$/, {
  error:
    'Invalid unit: expected a systemd unit name such as "nginx" or "nginx.service" (letters, digits, "@", "_", ".", ":", "-"; not starting with "-"; at most 128 characters)',
});

/**
 * A package name as apt, dnf and apk spell them. No globs, versions or
 * architecture suffixes; never starting with `-`.
 */
export const packageNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9+._-]{0,127}$/, {
  error:
    'Invalid package name: expected letters, digits, "+", ".", "_" or "-", starting with a letter or digit, at most 128 characters',
});

/** An absolute, normalised path on the target (no `.`/`..`/empty segments). */
export const hostPathSchema = absolutePathSchema;

const RELATIVE = /^([1-9][0-9]{0,4})([smhdw])$/;
const ABSOLUTE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?(Z)?$/;

// The regex checks shape only; a round trip through Date refuses "2024-02-30".
function isRealDate(m: RegExpMatchArray): boolean {
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map((v) => Number(v ?? "0"));
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  return date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
}

/**
 * A start time for log queries: relative (`"15m"`, `"2h"`, `"1d"`, `"30s"`,
 * `"1w"`) or an ISO date or date-time without offset (`"2024-05-01"`,
 * `"2024-05-01T12:00:00Z"`). Offsets such as `+02:00` are refused because
 * journalctl (systemd 252) cannot parse them.
 */
export const sinceSchema = z.string().max(32).refine(
  (value) => {
    if (RELATIVE.test(value)) return true;
    const m = value.match(ABSOLUTE);
    return m !== null && isRealDate(m);
  },
  {
    error:
      'Invalid since: expected a relative time such as "15m", "2h", "1d" or an ISO date/time such as "2024-05-01T12:00:00Z" (no offsets)',
  },
);

const UNIT_WORDS: Record<string, string> = { s: "s", m: "min", h: "h", d: "d", w: "w" };

/**
 * Turns a validated `since` value into what `journalctl --since=` accepts:
 * `"15m"` → `"-15min"`, `"2024-05-01T12:00:00Z"` → `"2024-05-01 12:00:00 UTC"`.
 *
 * @param since A value accepted by {@link sinceSchema}.
 * @returns The journalctl form.
 * @throws {RangeError} When the value was not validated first.
 */
export function toJournalSince(since: string): string {
  const rel = since.match(RELATIVE);
  if (rel) return `-${rel[1]}${UNIT_WORDS[rel[2]]}`;
  if (!ABSOLUTE.test(since)) throw new RangeError(`Invalid since ${JSON.stringify(since)}`);
  // systemd 252 refuses the ISO "T" separator and "Z": use its own spelling.
  const spaced = since.replace("T", " ");
  return spaced.endsWith("Z") ? `${spaced.slice(0, -1)} UTC` : spaced;
}

/**
 * The file roots of a host target; other target types have none.
 *
 * @param target The target.
 * @returns Its `files.roots`, or an empty list.
 */
export function hostRoots(target: Target): readonly string[] {
  return target.type === "local" || target.type === "ssh" ? target.files.roots : [];
}

/**
 * Whether a normalised absolute path lies under one of the roots, comparing at
 * a `/` boundary (`/srv/app` is not under `/srv/ap`).
 *
 * @param path A path accepted by {@link hostPathSchema}.
 * @param roots Normalised absolute roots.
 * @returns `true` when some root contains the path.
 */
export function isUnderRoots(path: string, roots: readonly string[]): boolean {
  return roots.some((root) =>
    root === "/" || path === root || path.startsWith(root.endsWith("/") ? root : `${root}/`)
  );
}
