/**
 * Authentication middleware: asks the authenticator who is calling and puts
 * the identity in the context, or answers 401/403 with the challenge.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { MiddlewareHandler } from "hono";
import type { Authenticator } from "../auth/types.ts";
import type { Identity } from "../gate/identity.ts";
import type { Channel } from "./tailscale_socket.ts";

const log = getLogger(["tailops", "http", "auth"]);

/** Context variables set by this middleware. */
export type AuthVariables = { identity: Identity };

/**
 * The app's Hono environment: the caller's identity, and as bindings Deno's
 * connection info plus the listener's channel (set by the server, never by
 * the request; absent on the TCP listener).
 */
export type GatewayEnv = {
  Variables: AuthVariables;
  Bindings: { remoteAddr?: Deno.NetAddr; channel?: Channel };
};

/** A request refused for its credential, as the audit log records it. */
export interface AuthFailure {
  /** The client's address. */
  readonly peer: string;
  /** 401 or 403. */
  readonly status: number;
  /** The OAuth error code (`invalid_token`, `invalid_request`, `insufficient_scope`). */
  readonly reason: string;
  /** The sentence the client got. */
  readonly message: string;
}

/**
 * Requires a valid credential on every request that reaches it.
 *
 * @param authenticator Decides who a request is from.
 * @param options `onFailure` hears of every refused request (to audit it, aggregated).
 * @returns The middleware; sets `c.var.identity`.
 */
export function authenticate(
  authenticator: Authenticator,
  options: { onFailure?: (failure: AuthFailure) => void } = {},
): MiddlewareHandler<GatewayEnv> {
  return async function authenticateRequest(c, next) {
    const remote = c.env?.remoteAddr;
    const outcome = await authenticator.authenticate(c.req.raw, {
      remoteAddr: remote?.hostname ?? "",
      channel: c.env?.channel ?? "tcp",
    });
    if (outcome.ignoredTailscaleHeaders) {
      log.warn(
        "Ignored Tailscale identity headers from {remote}: they are trusted only on the tailscale serve socket",
        { remote: remote?.hostname },
      );
    }
    if (!outcome.ok) {
      options.onFailure?.({
        peer: remote?.hostname ?? "",
        status: outcome.status,
        reason: outcome.body.error,
        message: outcome.body.error_description,
      });
      return Response.json(outcome.body, { status: outcome.status, headers: outcome.headers });
    }
    c.set("identity", outcome.identity);
    await next();
  };
}

/**
 * Stands in for authentication when the operator turned it off on a loopback
 * listener: every request acts as the given identity.
 *
 * @param identity The identity every request gets.
 * @returns The middleware; sets `c.var.identity`.
 */
export function noAuthentication(identity: Identity): MiddlewareHandler<GatewayEnv> {
  return async function anonymousLoopback(c, next) {
    c.set("identity", identity);
    await next();
  };
}
