import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

Deno.test({
  name:
    "over SSH a plan that stops at the first failure never starts the commands after it, and a plan without that runs them all in one exec",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const fx = await sshFixture({ targets: () => [{ id: "host" }] });
    try {
      // A directory the test user can write in: a touch that ran would leave the marker.
      const open = await Deno.makeTempDir({ prefix: "tailops-stop-" });
      await Deno.chmod(open, 0o777);
      const marker = `${open}/ran-after-failure`;
      const probe = await fx.run("host", execPlan([["touch", "--", `${open}/probe`]]));
      assert.ok(probe.ok && await Deno.stat(`${open}/probe`).then(() => true), "touch works");
      const commands = [["true"], ["false"], ["touch", "--", marker]];
      const stopped = await fx.run("host", execPlan(commands, { stopOnFailure: true }));
      assert.ok(stopped.ok, JSON.stringify(stopped));
      assert.deepEqual((stopped.result as ExecResult).commands.map((c) => c.exitCode), [0, 1]);
      assert.equal(await Deno.stat(marker).then(() => true, () => false), false);
      await Deno.remove(open, { recursive: true });
      const all = await fx.run("host", execPlan([["true"], ["false"], ["echo", "third"]]));
      assert.ok(all.ok, JSON.stringify(all));
      const results = (all.result as ExecResult).commands;
      assert.deepEqual(results.map((c) => [c.exitCode, c.stdout]), [[0, ""], [1, ""], [
        0,
        "third\n",
      ]]);
    } finally {
      await fx.close();
    }
  },
});
