/**
 * Tailscale identity: `tailscale serve` on this host proxies tailnet requests
 * to the gateway's private unix socket (`STATE/tailscale/serve.sock`, see
 * `src/http/tailscale_socket.ts`) and adds `Tailscale-User-Login` and
 * `Tailscale-User-Name`. Those headers are trusted only when enabled and only
 * on that socket: any local process can reach the loopback TCP listener and
 * write them there.
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
