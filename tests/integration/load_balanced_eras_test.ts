/**
 * Two gateways behind a real HAProxy (round robin) sharing a real
 * PostgreSQL, with no stickiness for 2026-07-28 requests: a 2026-era client
 * confirms calls whose question and answer land on different gateways, and
 * each confirmation runs its call once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { HAPROXY_MISSING, HaproxyTestbed } from "../../scripts/testbed/haproxy.ts";
import {
  answerElicitation,
  Client,
  eraOptions,
  StreamableHTTPClientTransport,
} from "./_gateway.ts";
import { ROLES_YAML } from "./_auth_gateway.ts";
import { call } from "./_mcp_checks.ts";
import { cluster, POSTGRES_MISSING } from "./_shared_state.ts";

const missing = POSTGRES_MISSING ?? HAPROXY_MISSING;
if (missing) console.warn(`Skipping load-balanced era tests: ${missing}`);

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control-confirm",
  "    effect: approve",
  "    tiers: [control]",
  "    confirm: true",
  "rate_limits:",
  "  control: { per_minute: 6000, burst: 1000 }",
  "identities:",
  ROLES_YAML,
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
].join("\n");

Deno.test({
  name:
    "a 2026-era client behind a round-robin balancer confirms calls across gateways, each run once",
  ignore: missing !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(2, POLICY);
    await using lb = await HaproxyTestbed.start(c.publicPort, c.gateways.map((g) => g.port));
    const alice = (await c.mint("alice", "operator")).token;
    const client = new Client(
      { name: "lb-2026", version: "0" },
      { ...eraOptions("2026"), capabilities: { elicitation: {} } },
    );
    answerElicitation(client, "accept");
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${lb.port}/mcp`), {
        requestInit: { headers: { Authorization: `Bearer ${alice}` } },
      }),
    );
    try {
      const units = ["a.service", "b.service", "c.service"];
      for (const unit of units) {
        const ran = await call(client, "service_control", {
          target: "local",
          unit,
          action: "restart",
        });
        // Ran on a host without systemd, under the confirmed approval.
        assert.equal(ran.results[0].error?.code, "unsupported", ran.text);
      }
    } finally {
      await client.close();
    }
    const audits = await Promise.all(c.gateways.map((g) => g.audit()));
    const where = (event: string) =>
      new Map(
        audits.flatMap((records, gateway) =>
          records.filter((r) => r.event === event).map((r) =>
            [r.detail?.approval_id as string, gateway] as const
          )
        ),
      );
    const requested = where("approval_requested");
    const used = where("approval_used");
    assert.equal(requested.size, 3);
    assert.equal(used.size, 3, "each confirmation ran its call once");
    const crossed = [...requested].filter(([id, gateway]) => used.get(id) !== gateway);
    assert.ok(crossed.length > 0, "a question and its answer landed on different gateways");
  },
});
