/**
 * Token-bucket rate limits with an injected clock: per (identity, tier) for
 * tool calls, and per client for the HTTP transport (429 + Retry-After).
 * Memory is bounded: buckets that have refilled are dropped, and beyond
 * `maxKeys` the least recently used bucket goes first.
 *
 * @example
 * ```ts
 * const limiter = new TierRateLimiter(policy.rateLimits);
 * const verdict = limiter.take({ subject: identity.subject, tier: op.tier }, Date.now());
 * if (!verdict.ok) return toolError(rateLimitReason({ tier: op.tier, retryAfterMs: verdict.retryAfterMs }));
 * ```
 *
 * @module
 */
import type { RateLimits } from "../config/policy_schema.ts";
import type { Tier } from "../config/capabilities.ts";

/** One bucket's settings. */
export interface BucketSettings {
  /** Sustained rate: tokens added per minute. */
  readonly perMinute: number;
  /** Bucket size: calls allowed at once after a quiet spell. */
  readonly burst: number;
}

/** Per-tier defaults for tool calls, per identity. */
export const DEFAULT_RATE_LIMITS: Readonly<Record<Tier, BucketSettings>> = Object.freeze({
  // Reads are cheap and agents fan out: the observe limit only stops runaway loops.
  observe: { perMinute: 3000, burst: 600 },
  control: { perMinute: 20, burst: 10 },
  admin: { perMinute: 6, burst: 3 },
});

/**
 * Default for the HTTP transport, per client address, for requests that end
 * unauthenticated (no or a bad credential, public metadata): it only stops floods.
 */
export const DEFAULT_TRANSPORT_LIMIT: BucketSettings = Object.freeze({
  perMinute: 12_000,
  burst: 2_000,
});

/**
 * Default for the HTTP transport, per authenticated identity (every request,
 * tool call or not; tool calls also meet the per-tier limits). Behind
 * `tailscale serve` every caller comes from 127.0.0.1, so authenticated
 * traffic is not limited by address: 5,000 calls at 64 in flight from one
 * address pass.
 */
export const DEFAULT_IDENTITY_TRANSPORT_LIMIT: BucketSettings = Object.freeze({
  perMinute: 60_000,
  burst: 10_000,
});

/** Default bound on the number of buckets kept. */
export const DEFAULT_MAX_KEYS = 10_000;

/** The answer to one `take`. */
export type RateVerdict = { readonly ok: true } | {
  readonly ok: false;
  readonly retryAfterMs: number;
};

interface Bucket {
  tokens: number;
  updated: number;
}

/** A set of token buckets sharing one setting, keyed by any string. */
export class TokenBucketLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #perMs: number;
  readonly #burst: number;
  readonly #refillMs: number;
  readonly #maxKeys: number;

  /**
   * @param settings Rate and burst.
   * @param options `maxKeys`: how many buckets to keep at most (default 10 000).
   * @throws {RangeError} When the rate, burst or `maxKeys` is not positive.
   */
  constructor(settings: BucketSettings, options: { maxKeys?: number } = {}) {
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!(settings.perMinute > 0) || !(settings.burst >= 1) || !(maxKeys >= 1)) {
      throw new RangeError(
        `Cannot create a rate limiter: expected perMinute > 0, burst >= 1 and maxKeys >= 1, found ${settings.perMinute}, ${settings.burst} and ${maxKeys}`,
      );
    }
    this.#perMs = settings.perMinute / 60_000;
    this.#burst = settings.burst;
    this.#refillMs = settings.burst / this.#perMs;
    this.#maxKeys = maxKeys;
  }

  /** How many buckets are held. */
  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Takes one token from a key's bucket if there is one.
   *
   * @param key Whose bucket, e.g. a subject and tier, or a client address.
   * @param now The current instant (a `Date` or epoch milliseconds).
   * @returns `{ ok: true }`, or how long until a token is available. A refusal costs nothing.
   */
  take(key: string, now: Date | number): RateVerdict {
    const t = typeof now === "number" ? now : now.getTime();
    const old = this.#buckets.get(key);
    this.#buckets.delete(key);
    const bucket: Bucket = old === undefined ? { tokens: this.#burst, updated: t } : {
      tokens: Math.min(this.#burst, old.tokens + Math.max(0, t - old.updated) * this.#perMs),
      updated: Math.max(t, old.updated),
    };
    let verdict: RateVerdict = { ok: true };
    if (bucket.tokens >= 1) bucket.tokens -= 1;
    else verdict = { ok: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.#perMs) };
    this.#buckets.set(key, bucket);
    this.#evict(t);
    return verdict;
  }

  /**
   * Gives back one token taken earlier by {@linkcode take}, for a request
   * that turned out to be counted elsewhere (the transport charges every
   * request to its address at arrival and refunds those that authenticate,
   * which are limited per identity instead). Never beyond the burst: a
   * refund can only undo its own take, so what the bucket admits stays
   * within burst + rate × time.
   *
   * @param key Whose bucket.
   * @param now The current instant.
   */
  refund(key: string, now: Date | number): void {
    const old = this.#buckets.get(key);
    // A bucket dropped since was full again: nothing to give back.
    if (old === undefined) return;
    const t = typeof now === "number" ? now : now.getTime();
    old.tokens = Math.min(
      this.#burst,
      old.tokens + Math.max(0, t - old.updated) * this.#perMs + 1,
    );
    old.updated = Math.max(t, old.updated);
  }

  /** Drops the oldest buckets while they are full again or the map is over its bound. */
  #evict(t: number): void {
    for (const [key, bucket] of this.#buckets) {
      const idle = t - bucket.updated >= this.#refillMs;
      if (!idle && this.#buckets.size <= this.#maxKeys) return;
      this.#buckets.delete(key);
    }
  }
}

/**
 * Limits calls per (identity subject, tier): in this process
 * ({@linkcode TierRateLimiter}) or shared by every gateway (`src/state/`).
 */
export interface CallRateLimiter {
  /**
   * Takes one call's token.
   *
   * @param key The identity subject and the operation's tier.
   * @param now The current instant.
   * @returns `{ ok: true }`, or the wait before retrying.
   */
  take(
    key: { subject: string; tier: Tier },
    now: Date | number,
  ): RateVerdict | Promise<RateVerdict>;
}

/** Rate limits per (identity subject, tier), from the policy's `rate_limits`. */
export class TierRateLimiter implements CallRateLimiter {
  readonly #limiters: Readonly<Record<Tier, TokenBucketLimiter>>;
  /** The settings in force per tier (policy values over defaults). */
  readonly settings: Readonly<Record<Tier, BucketSettings>>;

  /**
   * @param limits The policy's `rate_limits`; tiers left out use {@linkcode DEFAULT_RATE_LIMITS}.
   * @param options `maxKeys` per tier.
   * @throws {RangeError} When a limit is not positive.
   */
  constructor(limits: RateLimits = {}, options: { maxKeys?: number } = {}) {
    const pick = (tier: Tier): BucketSettings => {
      const written = limits[tier];
      if (written === undefined) return DEFAULT_RATE_LIMITS[tier];
      const burst = written.burst ?? Math.max(1, Math.floor(written.per_minute));
      return { perMinute: written.per_minute, burst };
    };
    this.settings = Object.freeze({
      observe: pick("observe"),
      control: pick("control"),
      admin: pick("admin"),
    });
    this.#limiters = {
      observe: new TokenBucketLimiter(this.settings.observe, options),
      control: new TokenBucketLimiter(this.settings.control, options),
      admin: new TokenBucketLimiter(this.settings.admin, options),
    };
  }

  /**
   * Takes one call's token for an identity at a tier.
   *
   * @param key The identity subject and the operation's tier.
   * @param now The current instant.
   * @returns `{ ok: true }`, or the wait before retrying.
   */
  take(key: { subject: string; tier: Tier }, now: Date | number): RateVerdict {
    return this.#limiters[key.tier].take(key.subject, now);
  }
}

/**
 * A limiter for the HTTP transport, keyed by client (address or credential).
 *
 * @param settings Overrides of {@linkcode DEFAULT_TRANSPORT_LIMIT}.
 * @param options `maxKeys` (default 10 000).
 * @returns The limiter; answer a refusal with 429 and `Retry-After: retryAfterSeconds(ms)`.
 * @throws {RangeError} When a setting is not positive.
 */
export function createTransportLimiter(
  settings: Partial<BucketSettings> = {},
  options: { maxKeys?: number } = {},
): TokenBucketLimiter {
  return new TokenBucketLimiter({ ...DEFAULT_TRANSPORT_LIMIT, ...settings }, options);
}

/**
 * The `Retry-After` header value for a wait: whole seconds, rounded up, at least 1.
 *
 * @param retryAfterMs The wait in milliseconds.
 * @returns Seconds as text.
 */
export function retryAfterSeconds(retryAfterMs: number): string {
  return String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
}

/**
 * A sentence for a tool error when a call is over its limit.
 *
 * @param refusal The tier and the wait.
 * @returns E.g. `Too many control calls: retry in 3 s`.
 */
export function rateLimitReason(refusal: { tier: Tier; retryAfterMs: number }): string {
  return `Too many ${refusal.tier} calls: retry in ${retryAfterSeconds(refusal.retryAfterMs)} s`;
}
