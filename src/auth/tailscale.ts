/**
 * Tailscale identity: `tailscale serve` on this host proxies tailnet requests
 * to the gateway on loopback and adds `Tailscale-User-Login` and
 * `Tailscale-User-Name`. Those headers are trusted only when enabled and only
 * from a loopback peer; anyone else could simply write them. (Any local
 * process can also reach loopback: enable this only on a host you control.)
 *
 * @module
 */
import { z } from "zod";

/** The login header set by `tailscale serve`. */
export const LOGIN_HEADER = "Tailscale-User-Login";
/** The display-name header set by `tailscale serve`. */
export const NAME_HEADER = "Tailscale-User-Name";

const loginSchema = z.string().regex(/^[\x21-\x7e]{1,256}$/);
// Control characters are refused: the name ends up in logs and audit records.
// deno-lint-ignore no-control-regex
const nameSchema = z.string().regex(/^[^\x00-\x1f\x7f]{1,256}$/);

/**
 * Whether an address is loopback: 127.0.0.0/8, `::1`, or their IPv4-mapped form.
 *
 * @param address An IP address, without port or brackets.
 * @returns `true` for loopback addresses.
 */
export function isLoopback(address: string): boolean {
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(address)) {
    const octets = address.split(".").map(Number);
    return octets[0] === 127 && octets.every((octet) => octet <= 255);
  }
  if (!address.includes(":")) return false;
  let host: string;
  try {
    host = new URL(`http://[${address}]/`).hostname;
  } catch {
    return false;
  }
  // The URL parser canonicalises IPv6: `::1`, and mapped IPv4 as `::ffff:7fXX:XXXX`.
  return host === "[::1]" || /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/.test(host);
}

/** What the Tailscale headers of a request say. */
export type TailscaleHeaders =
  | { readonly present: false }
  | { readonly present: true; readonly login?: string; readonly name?: string };

/**
 * Reads the Tailscale identity headers.
 *
 * @param headers The request headers.
 * @returns Whether any is present, and the login and name when well-formed.
 */
export function readTailscaleHeaders(headers: Headers): TailscaleHeaders {
  const login = headers.get(LOGIN_HEADER);
  const name = headers.get(NAME_HEADER);
  if (login === null && name === null) return { present: false };
  const parsedLogin = loginSchema.safeParse(login);
  const parsedName = nameSchema.safeParse(name);
  return {
    present: true,
    ...(parsedLogin.success ? { login: parsedLogin.data } : {}),
    ...(parsedName.success ? { name: parsedName.data } : {}),
  };
}
