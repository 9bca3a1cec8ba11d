/**
 * The PostgreSQL backend's atomic steps against a real server: concurrent
 * migrations, approval claims, shared token buckets, and notifications.
 *
 * @module
 */
import assert from "node:assert/strict";
import { POSTGRES_MISSING, PostgresTestbed } from "../../scripts/testbed/postgres.ts";
import { TierRateLimiter } from "../../src/gate/rate_limit.ts";
import { openPostgresState } from "../../src/state/postgres.ts";
import { readStateUrl } from "../../src/state/state_url.ts";
import type { StateBackend } from "../../src/state/mod.ts";

const ignore = POSTGRES_MISSING !== undefined;

async function openMany(pg: PostgresTestbed, count: number): Promise<StateBackend[]> {
  const target = await readStateUrl(pg.socketUrl);
  return await Promise.all(
    Array.from({ length: count }, (_, i) => openPostgresState(target, { gatewayId: `gw-${i}` })),
  );
}

Deno.test({
  name: "gateways starting at once migrate the schema once and then share one atomic state",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    const states = await openMany(pg, 4);
    try {
      assert.equal(await pg.sql("SELECT count(*) FROM tailops_schema_migrations"), "1");

      // One approval's `used` step, claimed by 4 gateways × 5 callers at once: one wins.
      const id = "apr_AAAAAAAAAAAAAAAAAAAAAA";
      const claims = await Promise.all(
        states.flatMap((s) => Array.from({ length: 5 }, () => s.approvals!.claim(id, "used"))),
      );
      assert.equal(claims.filter(Boolean).length, 1);

      // A bucket of 5 shared by 4 gateways: 40 simultaneous takes, 5 granted.
      const limits = new TierRateLimiter({ control: { per_minute: 0.01, burst: 5 } });
      const limiters = states.map((s) => s.rateLimiter(limits));
      const now = Date.now();
      const verdicts = await Promise.all(
        limiters.flatMap((l) =>
          Array.from({ length: 10 }, () => l.take({ subject: "token:alice", tier: "control" }, now))
        ),
      );
      assert.equal(verdicts.filter((v) => v.ok).length, 5);
      const refused = verdicts.find((v) => !v.ok);
      assert.ok(refused && !refused.ok && refused.retryAfterMs > 0);
    } finally {
      for (const s of states) await s.close();
    }
  },
});

Deno.test({
  name: "a revocation recorded by one backend is seen by another through its notification",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    const [a, b] = await openMany(pg, 2);
    try {
      assert.equal(await b.tokens.isRevoked("jti-1"), false);
      await a.tokens.revoke({ jti: "jti-1", at: 1 });
      const deadline = Date.now() + 20_000;
      while (!(await b.tokens.isRevoked("jti-1"))) {
        assert.ok(Date.now() < deadline, "the notice never arrived");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await pg.kill();
      const deadline2 = Date.now() + 20_000;
      while (b.health().ok) {
        assert.ok(Date.now() < deadline2, "the outage was never noticed");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await assert.rejects(b.tokens.isRevoked("jti-2"), /revocations cannot be checked/);
    } finally {
      await a.close();
      await b.close();
    }
  },
});

Deno.test({
  name:
    "the backend connects over TCP with a password from a secret reference, and refuses a wrong one",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    Deno.env.set("TAILOPS_TEST_PG_URL", pg.tcpUrlWithPassword);
    try {
      const state = await openPostgresState(await readStateUrl("${TAILOPS_TEST_PG_URL}"), {
        gatewayId: "gw-tcp",
      });
      assert.equal(state.health().ok, true);
      await state.close();
      Deno.env.set("TAILOPS_TEST_PG_URL", pg.tcpUrlWithPassword.replace(pg.password, "wrong"));
      await assert.rejects(
        async () =>
          await openPostgresState(await readStateUrl("${TAILOPS_TEST_PG_URL}"), {
            gatewayId: "gw-tcp",
          }),
        (error: Error) =>
          /password authentication failed/.test(error.message) && !error.message.includes("wrong"),
      );
    } finally {
      Deno.env.delete("TAILOPS_TEST_PG_URL");
    }
  },
});

Deno.test({
  name:
    "under shared_state best_effort, observe calls and known revocations continue without the database, control calls do not",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using pg = await PostgresTestbed.start();
    const target = await readStateUrl(pg.socketUrl);
    const lenient = await openPostgresState(target, { gatewayId: "gw-b", mode: "best_effort" });
    const strict = await openPostgresState(target, { gatewayId: "gw-s" });
    try {
      await lenient.tokens.revoke({ jti: "gone", at: 1 });
      const limits = new TierRateLimiter();
      const [lenientLimiter, strictLimiter] = [lenient, strict].map((s) => s.rateLimiter(limits));
      await pg.kill();
      const deadline = Date.now() + 20_000;
      while (lenient.health().ok || strict.health().ok) {
        assert.ok(Date.now() < deadline, "the outage was never noticed");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const observe = { subject: "token:alice", tier: "observe" as const };
      const control = { subject: "token:alice", tier: "control" as const };
      assert.equal((await lenientLimiter.take(observe, Date.now())).ok, true);
      await assert.rejects(
        async () => await lenientLimiter.take(control, Date.now()),
        /unreachable/,
      );
      await assert.rejects(
        async () => await strictLimiter.take(observe, Date.now()),
        /unreachable/,
      );
      assert.equal(await lenient.tokens.isRevoked("gone"), true);
      assert.equal(await lenient.tokens.isRevoked("other"), false);
      await assert.rejects(strict.tokens.isRevoked("other"), /revocations cannot be checked/);
      await assert.rejects(lenient.approvals!.claim("apr_AAAAAAAAAAAAAAAAAAAAAA", "used"));
    } finally {
      await lenient.close();
      await strict.close();
    }
  },
});
