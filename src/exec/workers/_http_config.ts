/**
 * The HTTP worker's configuration: the `configure` message body, and its
 * compiled form with the address guard and path globs ready to use.
 *
 * @module
 */
import {
  inRange,
  type IpAddress,
  type IpRange,
  isPublicAddress,
  parseCidr,
  parseIp,
} from "./_http_address.ts";
import { compilePathGlob, type GlobMatcher } from "../../config/glob.ts";
import { RESERVED_HTTP_HEADERS } from "../../config/http_headers.ts";

/** Request headers a caller may set; everything else (authorization, cookie, host, …) is refused. */
export const REQUEST_HEADER_ALLOWLIST: readonly string[] = Object.freeze([
  "accept",
  "accept-language",
  "content-type",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-unmodified-since",
  "x-request-id",
]);

/** Response headers passed back to the caller; all others are dropped. */
export const RESPONSE_HEADER_ALLOWLIST: readonly string[] = Object.freeze([
  "cache-control",
  "content-encoding",
  "content-length",
  "content-type",
  "date",
  "etag",
  "last-modified",
  "location",
  "retry-after",
]);

/** One HTTP target's settings, secrets revealed. Built by `HTTP_KIND.config()`. */
export interface HttpTargetSettings {
  readonly id: string;
  readonly scheme: "http" | "https";
  /** Host to connect to: a name, or an IP literal (IPv6 without brackets). */
  readonly hostname: string;
  /** Port, default ports made explicit. */
  readonly port: number;
  /** The base URL's path without a trailing `/` (`""` for the root). */
  readonly basePath: string;
  /** The `Host` header and TLS server name source, e.g. `api.example.com:8443`. */
  readonly hostHeader: string;
  readonly methods: readonly string[];
  readonly paths: readonly string[];
  /** Default headers sent with every request (lowercase names). */
  readonly headers: Readonly<Record<string, string>>;
  /** The credential header the worker injects, or `null`. */
  readonly auth: { readonly name: string; readonly value: string } | null;
  /** Secret values (and their encodings) scrubbed from every result. */
  readonly secrets: readonly string[];
  /** Extra trusted CA certificates (PEM). */
  readonly caCerts: readonly string[];
  /**
   * A pinned SHA-256 fingerprint of the server's leaf certificate (`AB:CD:…`): when set, it
   * replaces chain and name verification (proxmox targets).
   */
  readonly pinSha256?: string;
  readonly redirects: "none" | "same_origin";
  /** Allowed address ranges (CIDR) beyond the literal host address. */
  readonly allowAddresses: readonly string[];
  readonly responseCapBytes: number;
}

/** The `configure` message body for the HTTP worker. */
export interface HttpWorkerConfig {
  readonly targets: readonly HttpTargetSettings[];
}

/** A target ready for requests. */
export interface CompiledTarget extends HttpTargetSettings {
  /** Whether the address a connection reached may be used. */
  readonly addressAllowed: (ip: IpAddress) => boolean;
  /** Path globs, compiled. */
  readonly pathPatterns: readonly GlobMatcher[];
}

const HEADER_NAME = /^[a-z0-9-]{1,64}$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;

function compileTarget(t: HttpTargetSettings): CompiledTarget {
  const where = `target ${JSON.stringify(t.id)}`;
  if (t.scheme !== "http" && t.scheme !== "https") throw new Error(`Invalid scheme for ${where}`);
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) {
    throw new Error(`Invalid port for ${where}: expected 1 to 65535, found ${t.port}`);
  }
  for (const [name, value] of Object.entries(t.headers)) {
    if (!HEADER_NAME.test(name) || RESERVED_HTTP_HEADERS.has(name) || !HEADER_VALUE.test(value)) {
      throw new Error(`Invalid default header ${JSON.stringify(name)} for ${where}`);
    }
  }
  if (t.auth && (!HEADER_NAME.test(t.auth.name) || !HEADER_VALUE.test(t.auth.value))) {
    throw new Error(`Invalid credential header for ${where}`);
  }
  const ranges: IpRange[] = t.allowAddresses.map((cidr) => {
    const range = parseCidr(cidr);
    if (!range) {
      throw new Error(
        `Invalid allow_addresses entry ${JSON.stringify(cidr)} for ${where}: expected a CIDR range`,
      );
    }
    return range;
  });
  const literal = parseIp(t.hostname);
  if (literal) ranges.push({ ...literal, bits: literal.family === 4 ? 32 : 128 });
  const inRanges = (ip: IpAddress) => ranges.some((range) => inRange(range, ip));
  // A named host with no allowance may reach public addresses only.
  const publicOnly = literal === undefined && t.allowAddresses.length === 0;
  return Object.freeze({
    ...t,
    addressAllowed: publicOnly ? isPublicAddress : inRanges,
    pathPatterns: t.paths.map((glob) => compilePathGlob(glob)),
  });
}

/**
 * Checks and compiles the `configure` message body.
 *
 * @param config The message body.
 * @returns Targets by id.
 * @throws {Error} When a target's settings are malformed; the message names the target.
 */
export function compileConfig(config: unknown): Map<string, CompiledTarget> {
  const targets = (config as HttpWorkerConfig | null)?.targets;
  if (!Array.isArray(targets)) {
    throw new Error("Invalid http configuration: expected a targets list");
  }
  return new Map(targets.map((t: HttpTargetSettings) => [t.id, compileTarget(t)]));
}
