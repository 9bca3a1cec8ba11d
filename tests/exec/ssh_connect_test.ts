import assert from "node:assert/strict";
import type { ExecResult } from "../../src/exec/plan.ts";
import { freePort } from "../../scripts/testbed/_sshd_util.ts";
import { execPlan, sshFixture } from "./_ssh_fixture.ts";

const FAKE_PIN = `SHA256:${"A".repeat(43)}`;

Deno.test({
  name: "ssh executor authenticates, verifies host keys and reports connect failures",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // A socket that accepts connections but never speaks SSH.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const held: Deno.Conn[] = [];
    (async () => {
      for await (const conn of silent) held.push(conn);
    })().catch(() => {});
    const closedPort = freePort("127.0.0.1");
    const fx = await sshFixture({
      targets: (tb) => {
        const name = `[127.0.0.1]:${tb.instances[0].port}`;
        const line = (i: number) =>
          `${name} ${tb.hostKeys[i].publicKey.split(" ").slice(0, 2).join(" ")}\n`;
        Deno.writeTextFileSync(
          `${tb.dir}/kh_plain`,
          `# comment\nother.example ${line(0).split(" ").slice(1).join(" ")}${line(0)}`,
        );
        Deno.writeTextFileSync(`${tb.dir}/kh_hashed`, line(0) + line(1));
        new Deno.Command("ssh-keygen", {
          args: ["-H", "-f", `${tb.dir}/kh_hashed`],
          stdout: "null",
          stderr: "null",
        })
          .outputSync();
        Deno.writeTextFileSync(`${tb.dir}/kh_rsa`, line(2));
        Deno.writeTextFileSync(
          `${tb.dir}/kh_other`,
          `[127.0.0.1]:1 ${line(0).split(" ").slice(1).join(" ")}`,
        );
        const kh = (file: string) => ({
          noPin: true,
          connection: [`      known_hosts: ${tb.dir}/${file}`],
        });
        return [
          { id: "ed25519" },
          { id: "ecdsa", key: "ECDSA" },
          { id: "rsa", key: "RSA" },
          { id: "locked", key: "LOCKED", connection: ["      passphrase: ${PASSPHRASE}"] },
          {
            id: "locked-wrong",
            key: "LOCKED",
            connection: ["      passphrase: ${WRONG_PASSPHRASE}"],
          },
          { id: "stranger", key: "STRANGER" },
          { id: "wrong-pin", noPin: true, connection: [`      host_key: ${FAKE_PIN}`] },
          { id: "kh-plain", ...kh("kh_plain") },
          { id: "kh-hashed", ...kh("kh_hashed") },
          { id: "kh-rsa", ...kh("kh_rsa") },
          { id: "kh-other", ...kh("kh_other") },
          { id: "kh-missing", ...kh("kh_does_not_exist") },
          { id: "jumped", connection: ["      via: ed25519"] },
          {
            id: "refused",
            host: "127.0.0.1",
            port: closedPort,
            connection: ["      connect_timeout_ms: 2000"],
          },
          {
            id: "silent",
            host: "127.0.0.1",
            port: (silent.addr as Deno.NetAddr).port,
            connection: ["      connect_timeout_ms: 500"],
          },
        ];
      },
    });
    const ok = async (id: string) => {
      const outcome = await fx.run(id, execPlan([["echo", id]]));
      assert.ok(outcome.ok, `${id}: ${JSON.stringify(outcome)}`);
      assert.equal((outcome.result as ExecResult).commands[0].stdout, `${id}\n`);
    };
    const fails = async (id: string, code: string, pattern: RegExp, withinMs = 5_000) => {
      const outcome = await fx.run(id, execPlan([["echo", id]]));
      assert.ok(!outcome.ok, `${id} unexpectedly succeeded`);
      assert.equal(outcome.error.code, code, `${id}: ${outcome.error.message}`);
      assert.match(outcome.error.message, pattern);
      assert.ok(outcome.durationMs < withinMs, `${id} took ${outcome.durationMs} ms`);
      return outcome.error.message;
    };
    try {
      await t.step("ed25519, ECDSA and RSA keys log in", async () => {
        await Promise.all(["ed25519", "ecdsa", "rsa"].map(ok));
      });
      await t.step("a passphrase-protected key logs in with its passphrase", () => ok("locked"));
      await t.step(
        "a wrong passphrase fails with auth_failed",
        async () => void await fails("locked-wrong", "auth_failed", /passphrase/),
      );
      await t.step(
        "a key the server does not accept fails with auth_failed",
        async () =>
          void await fails("stranger", "auth_failed", /refused every configured credential/),
      );
      await t.step("a wrong pinned host key is refused, naming the fingerprint seen", async () => {
        const message = await fails("wrong-pin", "untrusted", /not trusted/);
        assert.ok(message.includes(fx.testbed.hostKeys[0].fingerprint), message);
        assert.ok(message.includes(FAKE_PIN), message);
      });
      await t.step("known_hosts plain, hashed and RSA-only entries are trusted", async () => {
        await Promise.all(["kh-plain", "kh-hashed", "kh-rsa"].map(ok));
      });
      await t.step(
        "a host absent from known_hosts is refused (no trust on first use)",
        async () => {
          const message = await fails("kh-other", "untrusted", /not in known_hosts/);
          assert.ok(message.includes(fx.testbed.hostKeys[0].fingerprint), message);
        },
      );
      await t.step(
        "an unreadable known_hosts file is refused",
        async () => void await fails("kh-missing", "untrusted", /does not exist/),
      );
      await t.step(
        "a jump host forwards to the target through its pooled connection",
        () => ok("jumped"),
      );
      await t.step(
        "a refused port fails fast with unreachable",
        async () => void await fails("refused", "unreachable", /refused/, 2_000),
      );
      await t.step(
        "a server that never speaks fails with unreachable within connect_timeout_ms",
        async () => void await fails("silent", "unreachable", /within 500 ms/, 1_500),
      );
    } finally {
      await fx.close();
      silent.close();
      for (const conn of held) conn.close();
    }
  },
});
