import assert from "node:assert/strict";
import { parsePolicy } from "../../src/config/load.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import {
  createTransportLimiter,
  DEFAULT_RATE_LIMITS,
  rateLimitReason,
  retryAfterSeconds,
  TierRateLimiter,
  TokenBucketLimiter,
} from "../../src/gate/rate_limit.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const T0 = Date.parse("2025-01-01T12:00:00Z");

Deno.test("take() allows a burst, then refuses with the time until the next token", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 6, burst: 3 });
  assert.deepEqual([1, 2, 3].map(() => limiter.take("a", T0).ok), [true, true, true]);
  assert.deepEqual(limiter.take("a", T0), { ok: false, retryAfterMs: 10_000 });
  assert.deepEqual(limiter.take("a", T0 + 4_000), { ok: false, retryAfterMs: 6_000 });
  assert.deepEqual(limiter.take("a", T0 + 10_000), { ok: true });
  assert.deepEqual(limiter.take("a", T0 + 10_000), { ok: false, retryAfterMs: 10_000 });
});

Deno.test("take() refills at the configured rate up to the burst", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 60, burst: 2 });
  limiter.take("a", T0);
  limiter.take("a", T0);
  assert.equal(limiter.take("a", T0 + 999).ok, false);
  assert.equal(limiter.take("a", T0 + 1_000).ok, true);
  const later = T0 + 3_600_000;
  assert.deepEqual([1, 2, 3].map(() => limiter.take("a", later).ok), [true, true, false]);
});

Deno.test("take() keeps keys apart and accepts a Date", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 1, burst: 1 });
  assert.equal(limiter.take("alice", new Date(T0)).ok, true);
  assert.equal(limiter.take("alice", new Date(T0)).ok, false);
  assert.equal(limiter.take("bob", new Date(T0)).ok, true);
});

Deno.test("idle buckets are evicted and memory stays bounded", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 60, burst: 5 }, { maxKeys: 100 });
  for (let i = 0; i < 1_000; i++) limiter.take(`client-${i}`, T0);
  assert.equal(limiter.size, 100);
  limiter.take("fresh", T0 + 60_000);
  assert.equal(limiter.size, 1, "buckets refilled to the brim are dropped");
});

Deno.test("a clock that steps back does not mint tokens", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 60, burst: 1 });
  assert.equal(limiter.take("a", T0).ok, true);
  assert.equal(limiter.take("a", T0 - 60_000).ok, false);
});

Deno.test("TierRateLimiter applies policy limits per subject and tier over the defaults", () => {
  const policy = compilePolicy(
    parsePolicy(
      `rate_limits:\n  admin: { per_minute: 2 }\n  control: { per_minute: 30, burst: 1 }\n`,
      "p.yaml",
    ),
    [],
  );
  const limiter = new TierRateLimiter(policy.rateLimits);
  assert.deepEqual(limiter.settings.admin, { perMinute: 2, burst: 2 });
  assert.deepEqual(limiter.settings.observe, DEFAULT_RATE_LIMITS.observe);
  const alice = { subject: "token:alice", tier: "control" as const };
  assert.equal(limiter.take(alice, T0).ok, true);
  assert.deepEqual(limiter.take(alice, T0), { ok: false, retryAfterMs: 2_000 });
  assert.equal(limiter.take({ ...alice, tier: "observe" }, T0).ok, true, "tiers are separate");
  assert.equal(
    limiter.take({ ...alice, subject: "token:bob" }, T0).ok,
    true,
    "subjects are separate",
  );
});

Deno.test("the transport limiter and helpers give 429 material", () => {
  const limiter = createTransportLimiter({ perMinute: 60, burst: 1 });
  assert.equal(limiter.take("127.0.0.1", T0).ok, true);
  const refused = limiter.take("127.0.0.1", T0 + 1);
  assert.equal(refused.ok, false);
  assert.equal(retryAfterSeconds(refused.ok ? 0 : refused.retryAfterMs), "1");
  assert.equal(retryAfterSeconds(2_001), "3");
  assert.equal(
    rateLimitReason({ tier: "admin", retryAfterMs: 29_500 }),
    "Too many admin calls: retry in 30 s",
  );
});

Deno.test("bad limiter settings are refused", () => {
  assert.throws(() => new TokenBucketLimiter({ perMinute: 0, burst: 1 }), RangeError);
  assert.throws(
    () => new TokenBucketLimiter({ perMinute: 1, burst: 0 }),
    /expected perMinute > 0, burst >= 1/,
  );
  assert.throws(
    () => parsePolicy(`rate_limits:\n  admin: { per_minute: -1 }\n`, "p.yaml"),
    /p\.yaml:2:\d+/,
  );
});

Deno.test("refund() gives back one taken token, never beyond the burst", () => {
  const limiter = new TokenBucketLimiter({ perMinute: 60, burst: 2 });
  assert.deepEqual(limiter.take("a", 0), { ok: true });
  assert.deepEqual(limiter.take("a", 0), { ok: true });
  assert.deepEqual(limiter.take("a", 0), { ok: false, retryAfterMs: 1000 });
  limiter.refund("a", 0);
  assert.deepEqual(limiter.take("a", 0), { ok: true });
  assert.deepEqual(limiter.take("a", 0), { ok: false, retryAfterMs: 1000 });
  // Refunds on a full bucket are lost: three refunds do not make room for a third take.
  limiter.refund("a", 5000);
  limiter.refund("a", 5000);
  limiter.refund("a", 5000);
  assert.deepEqual(limiter.take("a", 5000), { ok: true });
  assert.deepEqual(limiter.take("a", 5000), { ok: true });
  assert.deepEqual(limiter.take("a", 5000), { ok: false, retryAfterMs: 1000 });
  // A key never charged gets nothing.
  limiter.refund("b", 5000);
  assert.equal(limiter.size, 1);
});
