/**
 * A call over several targets under different approve rules gets the
 * strictest terms of them all: the real call path and approval store, a fake
 * executor that records what it was asked to run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parsePolicy, parseTargets } from "../../src/config/load.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import type { ExecOutcome } from "../../src/exec/host.ts";
import { ApprovalStore } from "../../src/gate/approvals.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import type { ApprovalDeps } from "../../src/mcp/approval_flow.ts";
import { type CallDeps, callTool } from "../../src/mcp/call_tool.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import type { AuditEntry } from "../../src/audit/record.ts";

const TARGETS = `
targets:
  - { id: lab, type: local, tags: [lab], capabilities: [system:read, system:control] }
  - { id: prod, type: local, tags: [prod], capabilities: [system:read, system:control] }
`;

const POLICY = `
rules:
  - id: lab-confirm
    effect: approve
    tiers: [control]
    targets: ["tag:lab"]
    confirm: true
    approval_ttl: 30m
  - id: prod-two-people
    effect: approve
    tiers: [control]
    targets: ["tag:prod"]
    separation_of_duties: true
    approval_ttl: 5m
`;

const NOW = new Date("2026-12-03T10:00:00Z");
const ALICE = fullIdentity("token:alice", "token");
const RESTART = { targets: ["lab", "prod"], unit: "nginx.service", action: "restart" };

async function setup() {
  const stateDir = await Deno.makeTempDir({ prefix: "tailops-terms-" });
  const registry = await parseTargets(TARGETS, "targets.yaml");
  const policy = compilePolicy(parsePolicy(POLICY, "policy.yaml"), CATALOG);
  const ran: string[] = [];
  const records: AuditEntry[] = [];
  const approvals: ApprovalDeps = {
    store: new ApprovalStore({ stateDir }),
    audit: (entry) => Promise.resolve(records.push(entry)),
    redact: (v) => v as Record<string, unknown>,
    seen: new Map(),
  };
  const deps: CallDeps = {
    registry,
    policy,
    executor: {
      run(target: Target): Promise<ExecOutcome> {
        ran.push(target.id);
        return Promise.resolve({
          ok: false,
          error: { code: "unreachable", message: "no" },
          durationMs: 1,
        });
      },
    },
    audit: { append: (entry) => Promise.resolve(records.push(entry)) },
    redact: (v) => v as Record<string, unknown>,
    scrub: (t) => t,
    approvals,
    now: () => NOW,
  };
  return {
    deps,
    ran,
    records,
    approvals,
    [Symbol.asyncDispose]: () => Deno.remove(stateDir, { recursive: true }),
  };
}

const serviceControl = CATALOG.find((o) => o.name === "service_control")!;

Deno.test("callTool() does not let a confirm target lend self-confirmation to a separation-of-duties target", async () => {
  await using t = await setup();
  const outcome = await callTool(t.deps, {
    identity: ALICE,
    operation: serviceControl,
    args: RESTART,
    confirmation: { kind: "ask" },
  });
  assert.equal(outcome.confirm, undefined, "the requester is never asked to confirm");
  assert.deepEqual(t.ran, [], "nothing ran");
  assert.deepEqual(outcome.result.results.map((r) => r.status), [
    "approval_required",
    "approval_required",
  ]);
  const approval = outcome.result.approval!;
  assert.deepEqual(approval.rules, { lab: "lab-confirm", prod: "prod-two-people" });
  assert.match(outcome.text, /rules "lab-confirm", "prod-two-people"/);
  const stored = (await t.approvals.store.get(approval.id))!;
  assert.equal(stored.separation_of_duties, true);
  assert.equal(stored.confirm, false);
  assert.equal(Date.parse(stored.expires) - NOW.getTime(), 5 * 60_000, "the shortest TTL");
  const self = await t.approvals.store.approve(approval.id, ALICE.subject, { now: NOW });
  assert.equal(self.ok, false);
  assert.equal(!self.ok && self.code, "self_approval");
  const requested = t.records.find((r) => r.event === "approval_requested")!;
  assert.deepEqual(requested.detail?.rules, { lab: "lab-confirm", prod: "prod-two-people" });
});

Deno.test("callTool() in either target order applies the strictest terms", async () => {
  await using t = await setup();
  const outcome = await callTool(t.deps, {
    identity: ALICE,
    operation: serviceControl,
    args: { ...RESTART, targets: ["prod", "lab"] },
    confirmation: { kind: "ask" },
  });
  assert.equal(outcome.confirm, undefined);
  const stored = (await t.approvals.store.get(outcome.result.approval!.id))!;
  assert.equal(stored.separation_of_duties, true);
  assert.deepEqual(t.ran, []);
});

Deno.test("callTool() still lets the requester confirm when every target's rule allows it", async () => {
  await using t = await setup();
  const request = {
    identity: ALICE,
    operation: serviceControl,
    args: { ...RESTART, targets: ["lab"] },
  };
  const asked = await callTool(t.deps, { ...request, confirmation: { kind: "ask" } });
  assert.match(asked.confirm?.message ?? "", /Policy rule "lab-confirm" asks you to confirm/);
  assert.deepEqual(t.ran, [], "nothing runs while the question is open");
  const approvalId = asked.confirm!.approvalId;
  const outcome = await callTool(t.deps, {
    ...request,
    confirmation: { kind: "answer", approvalId, accepted: true },
  });
  assert.deepEqual(t.ran, ["lab"]);
  assert.equal(outcome.result.approval, undefined);
  const again = await callTool(t.deps, {
    ...request,
    confirmation: { kind: "answer", approvalId, accepted: true },
  });
  assert.equal(again.result.results[0].error?.code, "approval_already_used", "single use");
  assert.deepEqual(t.ran, ["lab"]);
});
