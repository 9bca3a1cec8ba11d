import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

/** Established TCP connections to a local port, counted with `ss -tn`. */
async function connectionsTo(port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-Htn", "state", "established", `dport = :${port}`],
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l.trim() !== "").length;
}

Deno.test({
  name: "ssh executor pools connections and survives sshd going away",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({
      sshd: { maxSessions: 4 },
      targets: () => [{ id: "web-1", extra: ["    constraints: { concurrency: 32 }"] }],
    });
    const port = fx.testbed.instances[0].port;
    try {
      await t.step("many sequential calls use one TCP connection", async () => {
        for (let i = 0; i < 20; i++) {
          const outcome = await fx.run("web-1", execPlan([["echo", String(i)]]));
          assert.ok(outcome.ok, JSON.stringify(outcome));
        }
        assert.equal(await connectionsTo(port), 1);
      });

      await t.step("32 concurrent calls against MaxSessions 4 all succeed", async () => {
        const outcomes = await Promise.all(
          Array.from(
            { length: 32 },
            (_, i) => fx.run("web-1", execPlan([["sh", "-c", `sleep 0.2; echo ${i}`]])),
          ),
        );
        outcomes.forEach((o, i) => {
          assert.ok(o.ok, `call ${i}: ${JSON.stringify(o)}`);
          assert.equal((o.result as ExecResult).commands[0].stdout, `${i}\n`);
        });
        const open = await connectionsTo(port);
        // At most 32/4 connections are needed, twice that if they race; fewer
        // when a loaded machine lets some calls end before others start.
        assert.ok(
          open >= 1 && open <= 16,
          `expected 1 to 16 connections for 32 channels at 4 each, found ${open}`,
        );
      });

      await t.step("sshd killed mid-command gives a clear error", async () => {
        const running = fx.run("web-1", execPlan([["sleep", "5"]]));
        await new Promise((r) => setTimeout(r, 300));
        await fx.testbed.kill(0);
        const outcome = await running;
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "unreachable");
        assert.match(outcome.error.message, /lost while the command ran/);
      });

      await t.step("while sshd is down a call fails fast with unreachable", async () => {
        const outcome = await fx.run("web-1", execPlan([["true"]]));
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "unreachable");
        assert.match(outcome.error.message, /refused/);
        assert.ok(outcome.durationMs < 2_000);
      });

      await t.step("after sshd restarts the next call reconnects", async () => {
        await fx.testbed.restart(0);
        const outcome = await fx.run("web-1", execPlan([["echo", "back"]]));
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.equal((outcome.result as ExecResult).commands[0].stdout, "back\n");
      });

      await t.step("a pooled connection cut under us is replaced transparently", async () => {
        await fx.testbed.kill(0);
        await fx.testbed.restart(0);
        const outcome = await fx.run("web-1", execPlan([["echo", "again"]]));
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.equal(await connectionsTo(port), 1);
      });
    } finally {
      await fx.close();
    }
  },
});
