/**
 * Rate limits shared by every gateway: one token bucket per (tier, identity)
 * in a table, refilled and taken by one atomic `INSERT ... ON CONFLICT DO
 * UPDATE` (the row lock orders concurrent takes), so N gateways give an
 * identity the policy's budget, not N times it. Buckets refill by the calling
 * gateway's clock; the newest instant seen wins, so clocks apart by d can let
 * at most d × rate extra calls through.
 *
 * While the database is unreachable, calls are refused, except observe-tier
 * calls under `shared_state: best_effort`, which fall back to this process's
 * own buckets.
 *
 * Private to `src/state`.
 *
 * @module
 */
import type { Tier } from "../config/capabilities.ts";
import { type CallRateLimiter, type RateVerdict, TierRateLimiter } from "../gate/rate_limit.ts";
import type { PgClient } from "./_pg_client.ts";
import { StateUnavailableError } from "./state_error.ts";

/** A {@linkcode CallRateLimiter} whose buckets live in PostgreSQL. */
export class PgRateLimiter implements CallRateLimiter {
  readonly #db: PgClient;
  readonly #local: TierRateLimiter;
  readonly #bestEffort: boolean;

  /**
   * @param db The connection.
   * @param options The settings (an in-process limiter, also the best-effort fallback).
   */
  constructor(db: PgClient, options: { limits: TierRateLimiter; bestEffort: boolean }) {
    this.#db = db;
    this.#local = options.limits;
    this.#bestEffort = options.bestEffort;
  }

  /** @inheritdoc */
  async take(key: { subject: string; tier: Tier }, now: Date | number): Promise<RateVerdict> {
    const t = typeof now === "number" ? now : now.getTime();
    const { perMinute, burst } = this.#local.settings[key.tier];
    const perMs = perMinute / 60_000;
    try {
      const rows = await this.#db.run(
        "take a rate-limit token",
        (sql) =>
          sql<{ granted: boolean; tokens: number }[]>`
          INSERT INTO tailops_rate_buckets AS b (key, tokens, updated_ms, granted)
          VALUES (${`${key.tier}:${key.subject}`}, ${burst - 1}, ${t}, true)
          ON CONFLICT (key) DO UPDATE SET
            granted = least(${burst}::float8,
              b.tokens + greatest(0, ${t}::bigint - b.updated_ms) * ${perMs}::float8) >= 1,
            tokens = least(${burst}::float8,
              b.tokens + greatest(0, ${t}::bigint - b.updated_ms) * ${perMs}::float8)
              - CASE WHEN least(${burst}::float8,
                  b.tokens + greatest(0, ${t}::bigint - b.updated_ms) * ${perMs}::float8) >= 1
                THEN 1 ELSE 0 END,
            updated_ms = greatest(${t}::bigint, b.updated_ms)
          RETURNING granted, tokens`,
        // Not quite idempotent: when a connection dies after the take
        // committed, sending it again takes a second token. Over-charging by
        // one is the safe side, and far better than refusing the call.
        { idempotent: true },
      );
      const { granted, tokens } = rows[0];
      return granted
        ? { ok: true }
        : { ok: false, retryAfterMs: Math.ceil((1 - Number(tokens)) / perMs) };
    } catch (error) {
      if (error instanceof StateUnavailableError && this.#bestEffort && key.tier === "observe") {
        return this.#local.take(key, t);
      }
      throw error;
    }
  }
}
