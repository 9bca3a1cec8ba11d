import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

Deno.test({
  name: "ssh executor runs exec plans on a real sshd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({ targets: () => [{ id: "web-1" }] });
    try {
      await t.step("an exec plan reports exit code and stdout", async () => {
        const outcome = await fx.run(
          "web-1",
          execPlan([["sh", "-c", "echo hello; echo oops >&2; exit 3"]]),
        );
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const [cmd] = (outcome.result as ExecResult).commands;
        assert.equal(cmd.exitCode, 3);
        assert.equal(cmd.stdout, "hello\n");
        assert.equal(cmd.stderr, "oops\n");
        assert.equal(cmd.signal, null);
        assert.equal(cmd.truncated, false);
        assert.equal(cmd.bytes, 11);
      });
    } finally {
      await fx.close();
    }
  },
});
