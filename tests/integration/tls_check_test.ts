/**
 * `tls_check` through the real gateway (SDK client over Streamable HTTP), on
 * a real sshd target and on the gateway host, against real TLS servers on
 * loopback (`scripts/testbed/tls.ts`): certificates read, expiry counted,
 * destinations limited by policy like `tcp_check`.
 */
import assert from "node:assert/strict";
import { callFleet, diagFleet, startFleet } from "./_fleet.ts";
import { OPENSSL_MISSING, TlsTestbed } from "../../scripts/testbed/tls.ts";
import type { tlsCheck } from "../../src/ops/tls_check.ts";

/** The structured data of one target's tls_check. */
type TlsData = ReturnType<typeof tlsCheck.parse>;

Deno.test({
  name:
    "tls_check reads the certificate a server presents, from an ssh target and the gateway host",
  ignore: OPENSSL_MISSING !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const tls = await TlsTestbed.start();
    try {
      const ports = [tls.ports.valid, tls.ports.expired, tls.ports.future, tls.ports.chain];
      await using fleet = await startFleet(diagFleet([
        "  - id: tls-to-the-test-servers",
        "    effect: allow",
        "    operations: [tls_check]",
        '    targets: ["tag:diag"]',
        "    params:",
        "      host: { enum: [127.0.0.1] }",
        `      port: { enum: [${ports.join(", ")}] }`,
      ]));

      for (const target of ["web-01", "gw"]) {
        await t.step(`${target}: a valid certificate, its SANs and days left`, async () => {
          const out = await callFleet(fleet, "tls_check", {
            target,
            host: "127.0.0.1",
            port: tls.ports.valid,
            sni: "tls.test",
          });
          assert.equal(out.isError, false, out.text);
          const data = out.results[0].data as unknown as TlsData;
          assert.equal(out.results[0].status, "ok", out.text);
          assert.equal(data.connected, true);
          assert.equal(data.certificate!.subject, "CN=valid.test");
          assert.ok(data.certificate!.sans.includes("DNS:tls.test"));
          assert.ok(data.certificate!.days_left > 28, String(data.certificate!.days_left));
          assert.deepEqual([data.verify!.ok, data.chain_length], [false, 1]);
        });

        await t.step(`${target}: expired and not-yet-valid certificates`, async () => {
          const expired = await callFleet(fleet, "tls_check", {
            target,
            host: "127.0.0.1",
            port: tls.ports.expired,
          });
          const e = expired.results[0].data as unknown as TlsData;
          assert.ok(e.certificate!.days_left < 0, expired.text);
          assert.equal(e.certificate!.not_after, "2020-02-01T00:00:00.000Z");
          const future = await callFleet(fleet, "tls_check", {
            target,
            host: "127.0.0.1",
            port: tls.ports.future,
          });
          const f = future.results[0].data as unknown as TlsData;
          assert.equal(f.certificate!.not_before, "2099-01-01T00:00:00.000Z");
          assert.equal(f.verify!.ok, false);
        });
      }

      await t.step("both targets at once: a chain of two, one result each", async () => {
        const out = await callFleet(fleet, "tls_check", {
          targets: "tag:diag",
          host: "127.0.0.1",
          port: tls.ports.chain,
        });
        assert.deepEqual(out.results.map((r) => [r.target, r.status]), [["web-01", "ok"], [
          "gw",
          "ok",
        ]]);
        for (const r of out.results) assert.equal(r.data?.chain_length, 2);
      });

      await t.step(
        "a destination the policy does not list is denied before anything runs",
        async () => {
          for (
            const args of [
              { host: "127.0.0.2", port: tls.ports.valid },
              { host: "localhost", port: tls.ports.valid },
              { host: "127.0.0.1", port: 22 },
              { host: "127.0.0.1", port: 443 },
            ]
          ) {
            const out = await callFleet(fleet, "tls_check", { targets: "tag:diag", ...args });
            assert.deepEqual(
              out.results.map((r) => [r.status, r.error?.code]),
              [["denied", "param_constraint"], ["denied", "param_constraint"]],
              `${JSON.stringify(args)}: ${out.text}`,
            );
          }
          // Leaving the port out (443) is a port the rule does not list either.
          const out = await callFleet(fleet, "tls_check", { target: "gw", host: "127.0.0.1" });
          assert.equal(out.results[0].status, "denied", out.text);
        },
      );

      await t.step("dry run shows the exact argv on both targets", async () => {
        const out = await callFleet(fleet, "tls_check", {
          targets: "tag:diag",
          host: "127.0.0.1",
          port: tls.ports.valid,
          dry_run: true,
        });
        for (const r of out.results) {
          assert.equal(r.status, "planned", out.text);
          assert.deepEqual(r.plan?.argv?.[0].slice(0, 4), [
            "openssl",
            "s_client",
            "-connect",
            `127.0.0.1:${tls.ports.valid}`,
          ]);
        }
      });
    } finally {
      await tls.stop();
    }
  },
});
