/**
 * The identity of one MCP request. Over HTTP every request carries its own
 * credential, checked by the authentication middleware; the session's
 * server must act as that identity, not as the one that opened the session
 * (a revoked or weaker token must take effect at the next request). The
 * identity rides to the tool callbacks in the SDK's per-request `authInfo`.
 *
 * @module
 */
import type { Identity } from "../gate/identity.ts";
import type { AuthInfo } from "./sdk.ts";

// Keyed by the AuthInfo object itself: the SDK hands the same object to the
// handlers, and nothing a client sends can create an entry.
const identities = new WeakMap<AuthInfo, Identity>();

/**
 * The `authInfo` to pass to the transport for a request made by `identity`.
 *
 * @param identity Who made this request, as authenticated now.
 * @returns A fresh AuthInfo bound to that identity.
 */
export function authInfoFor(identity: Identity): AuthInfo {
  const info: AuthInfo = {
    token: "",
    clientId: identity.subject,
    scopes: [...identity.scopes],
    extra: { kind: identity.kind },
  };
  identities.set(info, identity);
  return info;
}

/**
 * The identity a request was authenticated as, if it came with one.
 *
 * @param extra The handler's `extra` argument.
 * @returns The identity, or `undefined` (stdio, or no `authInfo`).
 */
export function requestIdentity(extra: { authInfo?: AuthInfo }): Identity | undefined {
  return extra.authInfo ? identities.get(extra.authInfo) : undefined;
}
