/**
 * The SSH worker parses each distinct private key (with its passphrase) and
 * each distinct known_hosts text once and shares the result between targets:
 * what one target is trusted or allowed must never carry over to another.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

Deno.test({
  name:
    "targets sharing one key text or one known_hosts file still get their own passphrase check and host key",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const fx = await sshFixture({
      sshd: { count: 2 },
      targets: (tb) => {
        const served = tb.hostKeys[0].publicKey.split(" ").slice(0, 2).join(" ");
        // Instance 1 is listed with a key it does not serve: a changed host key.
        const stranger = generateClientKeySync(tb.dir);
        const [a, b] = tb.instances;
        Deno.writeTextFileSync(
          `${tb.dir}/kh_shared`,
          `[${a.host}]:${a.port} ${served}\n[${b.host}]:${b.port} ${stranger}\n`,
        );
        const kh = { noPin: true, connection: [`      known_hosts: ${tb.dir}/kh_shared`] };
        return [
          { id: "trusted", ...kh },
          { id: "changed", instance: 1, ...kh },
          { id: "trusted-again", ...kh },
          { id: "locked", key: "LOCKED", connection: ["      passphrase: ${PASSPHRASE}"] },
          {
            id: "locked-wrong",
            key: "LOCKED",
            connection: ["      passphrase: ${WRONG_PASSPHRASE}"],
          },
          { id: "locked-none", key: "LOCKED" },
        ];
      },
    });
    const run = (id: string) => fx.run(id, execPlan([["echo", id]]));
    const ok = async (id: string) => {
      const outcome = await run(id);
      assert.ok(outcome.ok, `${id}: ${JSON.stringify(outcome)}`);
      assert.equal((outcome.result as ExecResult).commands[0].stdout, `${id}\n`);
    };
    const fails = async (id: string, code: string) => {
      const outcome = await run(id);
      assert.ok(!outcome.ok, `${id} unexpectedly succeeded`);
      assert.equal(outcome.error.code, code, `${id}: ${outcome.error.message}`);
    };
    try {
      await t.step(
        "one known_hosts text: each target is checked against its own line",
        async () => {
          await ok("trusted");
          await fails("changed", "untrusted");
          await ok("trusted-again");
          await fails("changed", "untrusted");
        },
      );
      await t.step(
        "one key text: a wrong or missing passphrase never borrows the right one's parse",
        async () => {
          await fails("locked-wrong", "auth_failed");
          await ok("locked");
          await fails("locked-wrong", "auth_failed");
          await fails("locked-none", "auth_failed");
          await ok("locked");
        },
      );
    } finally {
      await fx.close();
    }
  },
});

function generateClientKeySync(dir: string): string {
  const path = `${dir}/stranger_host`;
  new Deno.Command("ssh-keygen", {
    args: ["-q", "-t", "ed25519", "-N", "", "-f", path],
    stdout: "null",
    stderr: "null",
  }).outputSync();
  return Deno.readTextFileSync(`${path}.pub`).split(" ").slice(0, 2).join(" ");
}
