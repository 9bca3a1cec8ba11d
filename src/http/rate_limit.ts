/**
 * Transport rate limiting: 429 with `Retry-After`. Requests that end
 * unauthenticated (no credential, a bad one, public metadata) are limited
 * per client address; authenticated requests are limited per identity
 * instead, so callers sharing an address (everyone behind `tailscale serve`
 * over TCP is 127.0.0.1) do not share one limit. Both are charged when the
 * request arrives, not when it ends: what is admitted never exceeds burst +
 * rate × time, however many requests are in flight (see {@linkcode rateLimit}
 * for the one refund).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { RateLimits } from "../config/policy_schema.ts";
import {
  type BucketSettings,
  createTransportLimiter,
  DEFAULT_IDENTITY_TRANSPORT_LIMIT,
  DEFAULT_TRANSPORT_LIMIT,
  retryAfterSeconds,
  type TokenBucketLimiter,
} from "../gate/rate_limit.ts";
import type { GatewayEnv } from "./authenticate.ts";

/** The transport's two limiters. */
export interface TransportLimiters {
  /** Unauthenticated requests, per client address. */
  readonly limiter: TokenBucketLimiter;
  /** Authenticated requests, per identity subject. */
  readonly identityLimiter: TokenBucketLimiter;
}

/**
 * Builds the transport limiters: each from its flag when given, else the
 * policy's `rate_limits.http`, else {@linkcode DEFAULT_TRANSPORT_LIMIT} and
 * {@linkcode DEFAULT_IDENTITY_TRANSPORT_LIMIT}.
 *
 * @param limits The policy's `rate_limits`, if any.
 * @param flags The `serve` flags' buckets, which override the policy.
 * @returns Both limiters, for `createApp`.
 */
export function transportLimiters(
  limits: RateLimits | undefined,
  flags: { unauthenticated?: BucketSettings; identity?: BucketSettings } = {},
): TransportLimiters {
  const pick = (
    written: { per_minute: number; burst?: number } | undefined,
    fallback: BucketSettings,
  ): BucketSettings =>
    written === undefined ? fallback : {
      perMinute: written.per_minute,
      burst: written.burst ?? Math.max(1, Math.floor(written.per_minute)),
    };
  return {
    limiter: createTransportLimiter(
      flags.unauthenticated ??
        pick(limits?.http?.unauthenticated_per_address, DEFAULT_TRANSPORT_LIMIT),
    ),
    identityLimiter: createTransportLimiter(
      flags.identity ??
        pick(limits?.http?.authenticated_per_identity, DEFAULT_IDENTITY_TRANSPORT_LIMIT),
    ),
  };
}

/** Digests of credentials that authenticated recently; least recently used go first. */
const KNOWN_CREDENTIALS = 4096;

/**
 * The credential a request carries, as the known-credential set remembers
 * it: the `Authorization` header, or the Tailscale login where that header is
 * an identity (the serve socket). Over TCP a `Tailscale-User-Login` header is
 * anybody's to write, so it is no credential there.
 */
function credentialOf(c: Parameters<MiddlewareHandler<GatewayEnv>>[0]): string | undefined {
  const authorization = c.req.header("authorization");
  if (authorization !== undefined) return `authorization:${authorization}`;
  const login = c.env?.channel === "tailscale_socket"
    ? c.req.header("tailscale-user-login")
    : undefined;
  return login === undefined ? undefined : `tailscale:${login}`;
}

/**
 * Limits requests that end unauthenticated, per client address. Every
 * request is charged at arrival, before anything is read or checked, so
 * requests still in flight count; one that authenticates gets its token
 * back when it ends (it is limited per identity instead). A request carrying
 * a credential that authenticated recently is not charged at arrival, so a
 * flood on the address does not lock out the callers who share it; if that
 * credential fails, it is charged then and forgotten.
 *
 * @param limiter The token buckets (see `createTransportLimiter`).
 * @param options `onLimited` hears of every refused request (to audit it, aggregated).
 * @returns The middleware.
 */
export function rateLimit(
  limiter: TokenBucketLimiter,
  options: { onLimited?: (peer: string) => void } = {},
): MiddlewareHandler<GatewayEnv> {
  const known = new Set<string>();
  return async function rateLimitByAddress(c, next) {
    const key = c.env?.remoteAddr?.hostname ?? "unknown";
    const credential = credentialOf(c);
    const digest = credential === undefined
      ? undefined
      : createHash("sha256").update(credential).digest("base64");
    const trusted = digest !== undefined && known.has(digest);
    if (!trusted) {
      const verdict = limiter.take(key, Date.now());
      if (!verdict.ok) {
        options.onLimited?.(key);
        return limited(c, verdict.retryAfterMs, "Too many requests from this client");
      }
    }
    try {
      await next();
    } finally {
      if (c.get("identity") !== undefined) {
        if (!trusted) limiter.refund(key, Date.now());
        if (digest !== undefined) {
          known.delete(digest);
          known.add(digest);
          if (known.size > KNOWN_CREDENTIALS) known.delete(known.values().next().value!);
        }
      } else if (trusted) {
        // A credential that stopped working (revoked, expired) is charged like any other.
        known.delete(digest);
        limiter.take(key, Date.now());
      }
    }
  };
}

/**
 * Limits authenticated requests per identity; mount after authentication.
 *
 * @param limiter The token buckets.
 * @param options `onLimited` hears of every refused request, with the peer address.
 * @returns The middleware.
 */
export function rateLimitByIdentity(
  limiter: TokenBucketLimiter,
  options: { onLimited?: (peer: string) => void } = {},
): MiddlewareHandler<GatewayEnv> {
  return async function rateLimitPerIdentity(c, next) {
    const identity = c.get("identity");
    if (identity !== undefined) {
      const verdict = limiter.take(identity.subject, Date.now());
      if (!verdict.ok) {
        options.onLimited?.(c.env?.remoteAddr?.hostname ?? "unknown");
        return limited(c, verdict.retryAfterMs, "Too many requests from this identity");
      }
    }
    await next();
  };
}

function limited(c: Parameters<MiddlewareHandler<GatewayEnv>>[0], ms: number, text: string) {
  return c.json({ error: "rate_limited", error_description: text }, 429, {
    "Retry-After": retryAfterSeconds(ms),
  });
}
