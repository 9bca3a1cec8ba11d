/**
 * The strictest approval terms win, end to end: one call over two targets
 * whose rules differ (one lets the requester confirm, the other demands a
 * second person and a shorter TTL) against the real gateway process with the
 * official SDK client and an elicitation-capable client.
 *
 * There is no systemd here, so an approved `service_control` ends `failed`:
 * it still proves the call ran (`decided` records carrying the approval id).
 *
 * @module
 */
import assert from "node:assert/strict";
import { type AuthGateway, authGateway, ROLES_YAML } from "./_auth_gateway.ts";
import { runCli } from "./_gateway.ts";

const TARGETS = [
  "version: 1",
  "targets:",
  "  - { id: lab, type: local, tags: [lab], capabilities: [system:read, system:control] }",
  "  - { id: prod, type: local, tags: [prod], capabilities: [system:read, system:control] }",
].join("\n");

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: lab-confirm",
  "    effect: approve",
  "    tiers: [control]",
  '    targets: ["tag:lab"]',
  "    confirm: true",
  "    approval_ttl: 30m",
  "  - id: prod-two-people",
  "    effect: approve",
  "    tiers: [control]",
  '    targets: ["tag:prod"]',
  "    separation_of_duties: true",
  "    approval_ttl: 5m",
  "identities:",
  ROLES_YAML,
  "  bindings:",
  "    - { token: alice, roles: [operator-approver] }",
  "    - { token: bob, roles: [approver] }",
].join("\n");

const CALL = { targets: ["lab", "prod"], unit: "nginx.service", action: "restart" };

interface Structured {
  approval?: { id: string; rule: string; rules?: Record<string, string>; expires: string };
  results: { target: string; status: string; error?: { code: string } }[];
}

async function approve(
  gw: AuthGateway,
  id: string,
  token: string,
): Promise<{ status: number; error?: string }> {
  const response = await fetch(new URL(`/approvals/${id}/approve`, gw.url), {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, error: body.error };
}

Deno.test("a confirm target does not lend self-confirmation to a separation-of-duties target in one call", async (t) => {
  await using gw = await authGateway(POLICY);
  await Deno.writeTextFile(`${gw.workDir}/targets.yaml`, TARGETS);
  const alice = await gw.mint("alice", "operator-approver");
  const bob = await gw.mint("bob", "approver");
  await gw.start();
  const client = await gw.connect({ token: alice.token, elicit: "accept" });
  let id = "";

  await t.step("the call asks for approval instead of the requester's confirmation", async () => {
    const started = Date.now();
    const result = await client.callTool({ name: "service_control", arguments: CALL });
    const structured = result.structuredContent as unknown as Structured;
    assert.equal(result.isError, true);
    assert.deepEqual(structured.results.map((r) => r.status), [
      "approval_required",
      "approval_required",
    ]);
    id = structured.approval!.id;
    assert.deepEqual(structured.approval!.rules, { lab: "lab-confirm", prod: "prod-two-people" });
    const ttl = Date.parse(structured.approval!.expires) - started;
    assert.ok(ttl <= 5 * 60_000 + 1_000, `the shortest TTL (5m) applies, found ${ttl} ms`);
    const audit = await gw.audit();
    assert.equal(audit.filter((r) => r.event === "decided").length, 0, "nothing ran");
    assert.equal(audit.filter((r) => r.event === "approval_granted").length, 0);
    const requested = audit.find((r) => r.event === "approval_requested")!;
    assert.deepEqual(requested.detail?.rules, { lab: "lab-confirm", prod: "prod-two-people" });
  });

  await t.step("the requester cannot approve it themself", async () => {
    const self = await approve(gw, id, alice.token);
    assert.equal(self.status, 403);
    assert.equal(self.error, "self_approval");
    const shown = await gw.cli(["approvals", "show", id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(
      shown.stdout,
      /lab-confirm \(lab\), prod-two-people \(prod\) \(separation of duties/,
    );
  });

  await t.step("a second person approves, and the call runs on both targets once", async () => {
    assert.equal((await approve(gw, id, bob.token)).status, 200);
    const result = await client.callTool({
      name: "service_control",
      arguments: { ...CALL, approval_id: id },
    });
    const structured = result.structuredContent as unknown as Structured;
    assert.deepEqual(structured.results.map((r) => r.target), ["lab", "prod"]);
    assert.ok(structured.results.every((r) => r.status !== "approval_required"));
    const audit = await gw.audit();
    const decided = audit.filter((r) => r.event === "decided" && r.detail?.approval_id === id);
    assert.deepEqual(decided.map((r) => r.target).sort(), ["lab", "prod"]);
  });

  await gw.stop();
  const verified = await runCli(["audit", "verify", gw.auditFile]);
  assert.equal(verified.code, 0, verified.stderr);
});
