/**
 * Transport rate limiting: a client that floods the endpoint gets 429 with
 * `Retry-After`, before any body is read or any token checked.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { retryAfterSeconds, type TokenBucketLimiter } from "../gate/rate_limit.ts";
import type { GatewayEnv } from "./authenticate.ts";

/**
 * Limits requests per client address.
 *
 * @param limiter The token buckets (see `createTransportLimiter`).
 * @param options `onLimited` hears of every refused request (to audit it, aggregated).
 * @returns The middleware.
 */
export function rateLimit(
  limiter: TokenBucketLimiter,
  options: { onLimited?: (peer: string) => void } = {},
): MiddlewareHandler<GatewayEnv> {
  return async function rateLimitByAddress(c, next) {
    const key = c.env?.remoteAddr?.hostname ?? "unknown";
    const verdict = limiter.take(key, Date.now());
    if (!verdict.ok) {
      options.onLimited?.(key);
      return c.json(
        { error: "rate_limited", error_description: "Too many requests from this client" },
        429,
        { "Retry-After": retryAfterSeconds(verdict.retryAfterMs) },
      );
    }
    await next();
  };
}
