import assert from "node:assert/strict";
import { tlsCheck } from "../../src/ops/tls_check.ts";
import { OPENSSL_MISSING, TlsTestbed } from "../../scripts/testbed/tls.ts";
import { asExec, localTarget, runPlan } from "./_host_helpers.ts";

Deno.test("tls_check passes the destination as one -connect value and the name to verify", () => {
  const target = localTarget();
  const argv = (args: Record<string, unknown>) =>
    asExec(tlsCheck.plan(tlsCheck.input.parse(args), target)).commands[0];
  assert.deepEqual(argv({ host: "db-1.internal" }), [
    "openssl",
    "s_client",
    "-connect",
    "db-1.internal:443",
    "-servername",
    "db-1.internal",
    "-verify_hostname",
    "db-1.internal",
    "-showcerts",
  ]);
  assert.deepEqual(argv({ host: "::1", port: 8443 }), [
    "openssl",
    "s_client",
    "-connect",
    "[::1]:8443",
    "-noservername",
    "-verify_ip",
    "::1",
    "-showcerts",
  ]);
  assert.deepEqual(argv({ host: "127.0.0.1", port: 1, sni: "tls.test" }).slice(3, 8), [
    "127.0.0.1:1",
    "-servername",
    "tls.test",
    "-verify_hostname",
    "tls.test",
  ]);
  for (const bad of ["-connect", "--help", "a b", "a:1", "x\n", "$(id)", "", "h/x"]) {
    assert.equal(tlsCheck.input.safeParse({ host: bad }).success, false, `host ${bad}`);
    assert.equal(tlsCheck.input.safeParse({ host: "h", sni: bad }).success, false, `sni ${bad}`);
  }
  for (const sni of ["127.0.0.1", "::1"]) {
    assert.equal(tlsCheck.input.safeParse({ host: "h", sni }).success, false, sni);
  }
  for (const port of [0, 65536, -1, 1.5, "443"]) {
    assert.equal(tlsCheck.input.safeParse({ host: "h", port }).success, false, String(port));
  }
});

Deno.test({
  name: "tls_check reads real servers' certificates: valid, expired, not yet valid, a chain, none",
  ignore: OPENSSL_MISSING !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const bed = await TlsTestbed.start();
    try {
      const check = async (args: Record<string, unknown>) => {
        const parsed = tlsCheck.input.parse(args);
        const plan = asExec(tlsCheck.plan(parsed, localTarget()));
        return tlsCheck.parse(await runPlan(plan), parsed);
      };
      const valid = await check({ host: "127.0.0.1", port: bed.ports.valid, sni: "tls.test" });
      assert.equal(valid.connected, true, JSON.stringify(valid));
      assert.equal(valid.certificate?.subject, "CN=valid.test");
      assert.deepEqual(valid.certificate?.sans, [
        "DNS:valid.test",
        "DNS:tls.test",
        "IP Address:127.0.0.1",
      ]);
      assert.ok(valid.certificate!.days_left > 28 && valid.certificate!.days_left <= 30);
      assert.equal(valid.chain_length, 1);
      assert.match(valid.protocol ?? "", /^TLSv1\.[23]$/);
      // Self-signed: the target's trust store does not know it.
      assert.deepEqual([valid.verify?.ok, valid.verify?.code], [false, 18]);

      const expired = await check({ host: "127.0.0.1", port: bed.ports.expired });
      assert.equal(expired.certificate?.not_after, "2020-02-01T00:00:00.000Z");
      assert.ok(expired.certificate!.days_left < -2000);
      assert.equal(expired.verify?.ok, false);

      const future = await check({ host: "127.0.0.1", port: bed.ports.future });
      assert.equal(future.certificate?.not_before, "2099-01-01T00:00:00.000Z");
      assert.equal(future.verify?.ok, false);

      const chain = await check({ host: "127.0.0.1", port: bed.ports.chain, sni: "tls.test" });
      assert.equal(chain.chain_length, 2);
      assert.deepEqual(chain.chain.map((c) => c.subject), ["CN=leaf.test", "CN=ca.test"]);
      assert.equal(chain.certificate?.issuer, "CN=ca.test");

      // A port nobody listens on: not connected, said plainly, not an error.
      const closed = bed.ports.valid === 1 ? 2 : 1;
      const refused = await check({ host: "127.0.0.1", port: closed });
      assert.deepEqual([refused.connected, refused.reason], [false, "refused"]);
    } finally {
      await bed.stop();
    }
  },
});
