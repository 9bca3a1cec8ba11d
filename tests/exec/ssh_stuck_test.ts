/**
 * A pooled SSH connection whose server stops answering (its sshd processes
 * frozen with SIGSTOP, as a hung host would be: TCP up, nothing answering)
 * never holds up the next call: a connection with a timed-out call is
 * retired, and one that leaves a session request unanswered is given up for
 * a fresh connection. Waits are bounded by each plan's own timeout; nothing
 * is asserted about durations.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

Deno.test({
  name: "a frozen pooled SSH connection never holds up the next call",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({
      // Keepalive far out of reach, so only the pool's own detection can help.
      targets: () => [{
        id: "web-1",
        connection: ["      keepalive_ms: 600000"],
        extra: ["    constraints: { concurrency: 16 }"],
      }],
    });
    const thawAll = () => fx.testbed.signalConnections(0, "SIGCONT", { listener: true });
    try {
      const warm = await fx.run("web-1", execPlan([["echo", "warm"]]));
      assert.ok(warm.ok, JSON.stringify(warm));

      await t.step(
        "after calls time out on a frozen connection, the next call reconnects",
        async () => {
          assert.ok(fx.testbed.signalConnections(0, "SIGSTOP") > 0, "froze the connection");
          const stuck = await Promise.all(
            Array.from(
              { length: 3 },
              () => fx.run("web-1", execPlan([["echo", "never"]], { timeoutMs: 1_500 })),
            ),
          );
          for (const outcome of stuck) {
            assert.ok(!outcome.ok, JSON.stringify(outcome));
            assert.equal(outcome.error.code, "timeout");
          }
          // A generous timeout: without the fix this call waits all of it on the
          // frozen connection and fails; with it, it runs on a new connection.
          const next = await fx.run("web-1", execPlan([["echo", "next"]], { timeoutMs: 30_000 }));
          assert.ok(next.ok, JSON.stringify(next));
          assert.equal((next.result as ExecResult).commands[0].stdout, "next\n");
        },
      );

      await t.step(
        "a connection that stopped answering before any timeout is given up",
        async () => {
          // Freeze the connection the last call used (and the old frozen ones again).
          assert.ok(fx.testbed.signalConnections(0, "SIGSTOP") > 0);
          const outcomes = await Promise.all(
            Array.from(
              { length: 4 },
              (_, i) => fx.run("web-1", execPlan([["echo", `fresh ${i}`]], { timeoutMs: 30_000 })),
            ),
          );
          outcomes.forEach((outcome, i) => {
            assert.ok(outcome.ok, JSON.stringify(outcome));
            assert.equal((outcome.result as ExecResult).commands[0].stdout, `fresh ${i}\n`);
          });
        },
      );

      await t.step(
        "with the whole server frozen a call times out, and after a thaw the next runs",
        async () => {
          fx.testbed.signalConnections(0, "SIGSTOP", { listener: true });
          const frozen = await fx.run("web-1", execPlan([["echo", "x"]], { timeoutMs: 1_500 }));
          assert.ok(!frozen.ok, JSON.stringify(frozen));
          assert.ok(["timeout", "unreachable"].includes(frozen.error.code), frozen.error.code);
          thawAll();
          const next = await fx.run("web-1", execPlan([["echo", "thawed"]], { timeoutMs: 30_000 }));
          assert.ok(next.ok, JSON.stringify(next));
          assert.equal((next.result as ExecResult).commands[0].stdout, "thawed\n");
        },
      );
    } finally {
      thawAll();
      await fx.close();
    }
  },
});
