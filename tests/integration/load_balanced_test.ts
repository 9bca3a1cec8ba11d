/**
 * Two gateways behind a real HAProxy sharing a real PostgreSQL: a client
 * whose sessions alternate between them completes a fan-out and an approval
 * flow (request on one, approval through the balancer, use on another).
 *
 * @module
 */
import assert from "node:assert/strict";
import { HAPROXY_MISSING, HaproxyTestbed } from "../../scripts/testbed/haproxy.ts";
import { Client, StreamableHTTPClientTransport } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";
import { cluster, POSTGRES_MISSING, SHARED_POLICY as POLICY } from "./_shared_state.ts";

const missing = POSTGRES_MISSING ?? HAPROXY_MISSING;
if (missing) console.warn(`Skipping load-balanced tests: ${missing}`);

Deno.test({
  name:
    "a client whose sessions alternate between two balanced gateways completes a fan-out and an approval flow",
  ignore: missing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(2, POLICY);
    await using lb = await HaproxyTestbed.start(c.publicPort, c.gateways.map((g) => g.port));
    const alice = (await c.mint("alice", "operator")).token;
    const carol = (await c.mint("carol", "approver")).token;
    const session = async <T>(step: (client: InstanceType<typeof Client>) => Promise<T>) => {
      const client = new Client({ name: "lb-test", version: "0" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(c.resource), {
          requestInit: { headers: { Authorization: `Bearer ${alice}` } },
        }),
      );
      try {
        return await step(client);
      } finally {
        await client.close();
      }
    };

    for (let i = 0; i < 4; i++) {
      const fanout = await session((client) => call(client, "system_status", { targets: "*" }));
      assert.equal(fanout.isError, false, fanout.text);
      assert.ok(fanout.results.every((r) => r.status === "ok"), fanout.text);
    }
    const requested = await session((client) =>
      client.callTool({
        name: "service_control",
        arguments: { target: "local", unit: "nginx.service", action: "restart" },
      })
    );
    const id = (requested.structuredContent as { approval?: { id: string } }).approval?.id;
    assert.ok(id, JSON.stringify(requested));
    const approved = await fetch(`http://127.0.0.1:${lb.port}/approvals/${id}/approve`, {
      method: "POST",
      headers: { Authorization: `Bearer ${carol}` },
    });
    assert.equal(approved.status, 200, await approved.clone().text());
    await approved.body?.cancel();
    const args = { target: "local", unit: "nginx.service", action: "restart", approval_id: id };
    const ran = await session((client) => call(client, "service_control", args));
    assert.equal(ran.results[0].error?.code, "unsupported", ran.text);
    const again = await session((client) => call(client, "service_control", args));
    assert.equal(again.results[0].error?.code, "approval_already_used", again.text);

    // Both gateways served sessions: the balancer really alternated.
    for (const g of c.gateways) {
      const served = (await g.audit()).filter((r) => r.event === "finished");
      assert.ok(served.length > 0, `gateway on ${g.port} served no call`);
    }
  },
});
