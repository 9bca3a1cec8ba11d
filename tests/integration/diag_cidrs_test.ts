/**
 * Diagnostics limited to address ranges through the real gateway: a policy
 * `cidrs` limit on `tcp_check`'s host, from a real sshd target and from the
 * gateway host. Refused spellings never reach a target (nothing runs), so no
 * address outside loopback is ever contacted.
 */
import assert from "node:assert/strict";
import { readAudit } from "./_gateway.ts";
import { callFleet, diagFleet, startFleet } from "./_fleet.ts";

Deno.test({
  name: "tcp_check reaches only addresses inside the policy's ranges, however they are spelled",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const accepting = (async () => {
      for await (const conn of listener) conn.close();
    })().catch(() => {});
    try {
      await using fleet = await startFleet(diagFleet([
        "  - id: diag-to-loopback-ranges",
        "    effect: allow",
        "    operations: [tcp_check]",
        '    targets: ["tag:diag"]',
        "    params:",
        '      host: { cidrs: [127.0.0.0/8, "::1"] }',
      ]));
      for (const target of ["web-01", "gw"]) {
        await t.step(`${target}: an address inside the range is checked for real`, async () => {
          const open = await callFleet(fleet, "tcp_check", { target, host: "127.0.0.1", port });
          assert.equal(open.results[0].status, "ok", open.text);
          assert.equal(open.results[0].data!.open, true, open.text);
        });
        await t.step(`${target}: other addresses, names and spellings are refused`, async () => {
          for (
            const host of [
              "10.0.0.1",
              "192.0.2.1",
              "localhost",
              "example.com",
              "127.1",
              "0x7f.0.0.1",
              "0177.0.0.1",
              "2130706433",
              "127.0.0.1.",
              "::2",
              "fe80::1",
            ]
          ) {
            const out = await callFleet(fleet, "tcp_check", { target, host, port });
            if (out.results.length === 0) {
              // Refused by the tool's own host grammar before the gate.
              assert.equal(out.isError, true, host);
              assert.match(out.text, /Invalid host/, `${host}: ${out.text}`);
            } else {
              assert.equal(out.results[0].status, "denied", `${host}: ${out.text}`);
              assert.equal(out.results[0].error!.code, "param_constraint", host);
              assert.match(out.results[0].error!.message, /must be an IP address in/, host);
            }
          }
        });
      }
      await t.step(
        "only the admitted calls ran: every finished tcp_check went to 127.0.0.1",
        async () => {
          const records = await readAudit(fleet.gateway.auditFile);
          const ran = records.filter((r) => r.event === "finished" && r.tool === "tcp_check");
          assert.equal(ran.length, 2);
          const allowed = records.filter((r) =>
            r.event === "decided" && r.tool === "tcp_check" && r.decision === "allow"
          );
          assert.ok(allowed.every((r) => (r.args as { host?: string }).host === "127.0.0.1"));
        },
      );
    } finally {
      listener.close();
      await accepting;
    }
  },
});
