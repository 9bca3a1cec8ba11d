import assert from "node:assert/strict";
import { scanHostKey } from "../../src/exec/ssh_keyscan.ts";
import { SshdTestbed } from "../../scripts/testbed/sshd.ts";
import { freePort } from "../../scripts/testbed/_sshd_util.ts";

Deno.test({
  name: "scanHostKey() lists the server's fingerprints, preferred first",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const testbed = await SshdTestbed.start({ authorizedKeys: [] });
    try {
      const { host, port } = testbed.instances[0];
      const keys = await scanHostKey(host, port, { timeoutMs: 5_000 });
      assert.deepEqual(keys.map((k) => k.fingerprint), testbed.hostKeys.map((k) => k.fingerprint));
      assert.deepEqual(keys.map((k) => k.keyType), [
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ssh-rsa",
      ]);
    } finally {
      await testbed.stop();
    }
  },
});

Deno.test("scanHostKey() reports a refused port as unreachable", async () => {
  await assert.rejects(
    () => scanHostKey("127.0.0.1", freePort("127.0.0.1"), { timeoutMs: 1_000 }),
    (error: Error & { code?: string }) =>
      error.code === "unreachable" && /refused/.test(error.message),
  );
});
