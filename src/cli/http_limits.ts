/**
 * `serve` flags for the HTTP transport's limits: connections, deadlines and
 * sessions. Each has an environment variable and a safe default.
 *
 * @module
 */
import type { BucketSettings } from "../gate/rate_limit.ts";
import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from "../http/listener_limits.ts";
import { DEFAULT_SESSION_LIMITS, type SessionLimits } from "../http/mcp_sessions.ts";
import { CliError } from "./errors.ts";
import { type Parsed, stringOption } from "./options.ts";

/** The flags, for `parseFlags`. */
export const HTTP_LIMIT_FLAGS = {
  "max-connections": { type: "string" },
  "max-connections-per-peer": { type: "string" },
  "headers-timeout": { type: "string" },
  "request-timeout": { type: "string" },
  "keep-alive-timeout": { type: "string" },
  "fd-reserve": { type: "string" },
  "max-sessions-per-identity": { type: "string" },
  "session-idle-timeout": { type: "string" },
  "http-rate-unauthenticated": { type: "string" },
  "http-rate-identity": { type: "string" },
  stateless: { type: "boolean" },
} as const;

/** Limits of the HTTP transport. */
export interface HttpLimits {
  /** The listener's connection caps and deadlines. */
  readonly listener: ListenerLimits;
  /** MCP session caps and idle reaping. */
  readonly sessions: SessionLimits;
  /**
   * Transport rate limits given as flags; each one given replaces the
   * policy's `rate_limits.http` entry (and the default).
   */
  readonly rates?: HttpRateFlags;
}

/** `--http-rate-unauthenticated` and `--http-rate-identity`, when given. */
export interface HttpRateFlags {
  /** Requests that end unauthenticated, per client address. */
  readonly unauthenticated?: BucketSettings;
  /** Authenticated requests, per identity. */
  readonly identity?: BucketSettings;
}

/**
 * Parses a transport rate such as `12000` (per minute; the burst is a sixth
 * of it, at least 1) or `12000:2000` (per minute, burst).
 *
 * @param flag The flag's name, for the error.
 * @param text The value.
 * @returns The bucket.
 * @throws {CliError} When it is not one or two whole numbers in range.
 */
export function parseRate(flag: string, text: string): BucketSettings {
  const m = /^([0-9]{1,9})(?::([0-9]{1,9}))?$/.exec(text.trim());
  const perMinute = m ? Number(m[1]) : NaN;
  const burst = m?.[2] === undefined ? Math.max(1, Math.floor(perMinute / 6)) : Number(m[2]);
  if (!m || perMinute < 1 || perMinute > 100_000_000 || burst < 1 || burst > 100_000_000) {
    throw new CliError(
      `Invalid --${flag} ${
        JSON.stringify(text)
      }: expected requests per minute, optionally with a burst, such as 12000 or 12000:2000 (each 1 to 100000000)`,
    );
  }
  return { perMinute, burst };
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `10s`, `5m` or `1h`.
 *
 * @param flag The flag's name, for the error.
 * @param text The value.
 * @param range Smallest and largest value in milliseconds.
 * @returns Milliseconds.
 * @throws {CliError} When it is not a duration in range.
 */
export function parseDurationMs(
  flag: string,
  text: string,
  range: { min: number; max: number },
): number {
  const m = /^([0-9]{1,9})(ms|s|m|h)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  if (!m || ms < range.min || ms > range.max) {
    throw new CliError(
      `Invalid --${flag} ${
        JSON.stringify(text)
      }: expected a duration such as 500ms, 10s or 5m, between ${range.min} ms and ${
        range.max / 1000
      } s`,
    );
  }
  return ms;
}

function count(flag: string, text: string, range: { min: number; max: number }): number {
  const value = /^[0-9]{1,9}$/.test(text.trim()) ? Number(text) : NaN;
  if (!(value >= range.min && value <= range.max)) {
    throw new CliError(
      `Invalid --${flag} ${
        JSON.stringify(text)
      }: expected a whole number from ${range.min} to ${range.max}`,
    );
  }
  return value;
}

/**
 * Reads the HTTP limit flags (or `TAILOPS_*` variables), else the defaults.
 *
 * @param parsed Parsed `serve` flags.
 * @returns The limits.
 * @throws {CliError} On a value out of range, or a headers timeout above the request timeout.
 */
export function parseHttpLimits(parsed: Parsed): HttpLimits {
  const l = DEFAULT_LISTENER_LIMITS;
  const s = DEFAULT_SESSION_LIMITS;
  const num = (
    flag: string,
    env: string,
    fallback: number,
    range: { min: number; max: number },
  ) => {
    const text = stringOption(parsed, flag, env);
    return text === undefined ? fallback : count(flag, text, range);
  };
  const ms = (flag: string, env: string, fallback: number, range: { min: number; max: number }) => {
    const text = stringOption(parsed, flag, env);
    return text === undefined ? fallback : parseDurationMs(flag, text, range);
  };
  const listener: ListenerLimits = {
    maxConnections: num("max-connections", "TAILOPS_MAX_CONNECTIONS", l.maxConnections, {
      min: 1,
      max: 1_000_000,
    }),
    maxConnectionsPerPeer: num(
      "max-connections-per-peer",
      "TAILOPS_MAX_CONNECTIONS_PER_PEER",
      l.maxConnectionsPerPeer,
      { min: 1, max: 1_000_000 },
    ),
    headersTimeoutMs: ms("headers-timeout", "TAILOPS_HEADERS_TIMEOUT", l.headersTimeoutMs, {
      min: 100,
      max: 600_000,
    }),
    requestTimeoutMs: ms("request-timeout", "TAILOPS_REQUEST_TIMEOUT", l.requestTimeoutMs, {
      min: 100,
      max: 3_600_000,
    }),
    keepAliveTimeoutMs: ms(
      "keep-alive-timeout",
      "TAILOPS_KEEP_ALIVE_TIMEOUT",
      l.keepAliveTimeoutMs,
      { min: 100, max: 3_600_000 },
    ),
    fdReserve: num("fd-reserve", "TAILOPS_FD_RESERVE", l.fdReserve, { min: 0, max: 1_000_000 }),
  };
  if (listener.headersTimeoutMs > listener.requestTimeoutMs) {
    throw new CliError(
      `Invalid --headers-timeout: expected at most the request timeout (${listener.requestTimeoutMs} ms), found ${listener.headersTimeoutMs} ms`,
    );
  }
  const sessions: SessionLimits = {
    maxSessionsPerIdentity: num(
      "max-sessions-per-identity",
      "TAILOPS_MAX_SESSIONS_PER_IDENTITY",
      s.maxSessionsPerIdentity,
      { min: 1, max: 100_000 },
    ),
    maxSessions: s.maxSessions,
    idleMs: ms("session-idle-timeout", "TAILOPS_SESSION_IDLE_TIMEOUT", s.idleMs, {
      min: 100,
      max: 86_400_000,
    }),
    stateless: statelessOption(parsed),
  };
  const rate = (flag: string, env: string) => {
    const text = stringOption(parsed, flag, env);
    return text === undefined ? undefined : parseRate(flag, text);
  };
  const unauthenticated = rate("http-rate-unauthenticated", "TAILOPS_HTTP_RATE_UNAUTHENTICATED");
  const identity = rate("http-rate-identity", "TAILOPS_HTTP_RATE_IDENTITY");
  return {
    listener,
    sessions,
    ...(unauthenticated || identity ? { rates: { unauthenticated, identity } } : {}),
  };
}

/** `--stateless`, or `TAILOPS_STATELESS=true|false` when the flag is absent. */
function statelessOption(parsed: Parsed): boolean {
  if (parsed.values.stateless === true) return true;
  const env = Deno.env.get("TAILOPS_STATELESS");
  if (env === undefined || env === "" || env === "false") return false;
  if (env === "true") return true;
  throw new CliError(`Invalid TAILOPS_STATELESS ${JSON.stringify(env)}: expected true or false`);
}
