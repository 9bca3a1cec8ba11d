/**
 * Signed approval grants across redundant gateways: two gateway processes
 * share the signing key (STATE/keys) but not their state directories; an
 * approval granted on one runs the call once on the other.
 *
 * @module
 */
import assert from "node:assert/strict";
import { authGateway, ROLES_YAML, waitForAudit } from "./_auth_gateway.ts";
import { call } from "./_mcp_checks.ts";

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control-approval",
  "    effect: approve",
  "    tiers: [control]",
  "    separation_of_duties: true",
  "identities:",
  ROLES_YAML,
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
].join("\n");

const RESTART = { target: "local", unit: "nginx.service", action: "restart" } as const;

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  for await (const entry of Deno.readDir(from)) {
    await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    await Deno.chmod(`${to}/${entry.name}`, 0o600);
  }
}

Deno.test("a grant signed by one gateway runs the approved call once on a second gateway sharing its key", async () => {
  await using first = await authGateway(POLICY);
  await using second = await authGateway(POLICY);
  await first.start();
  await copyDir(`${first.stateDir}/keys`, `${second.stateDir}/keys`);
  await second.start();

  const onFirst = await first.connect({ token: (await first.mint("alice", "operator")).token });
  const requested = await onFirst.callTool({ name: "service_control", arguments: RESTART });
  const approval = (requested.structuredContent as { approval?: { id: string } }).approval;
  assert.ok(approval, "the first gateway asks for approval");

  const approved = await first.cli(["approvals", "approve", approval.id, "--as", "bob"]);
  assert.equal(approved.code, 0, approved.stderr);
  const granted = await first.cli(["approvals", "grant", approval.id]);
  assert.equal(granted.code, 0, granted.stderr);
  const grant = granted.stdout.trim();
  assert.match(grant, /^[\w-]+\.[\w-]+\.[\w-]+$/);

  const onSecond = await second.connect({ token: (await second.mint("alice", "operator")).token });
  const changed = await call(onSecond, "service_control", {
    ...RESTART,
    unit: "sshd.service",
    approval_grant: grant,
  });
  assert.equal(changed.results[0].error?.code, "approval_bad_grant", changed.text);

  const ran = await call(onSecond, "service_control", { ...RESTART, approval_grant: grant });
  // No systemd here: the call runs and ends `unsupported`, which proves it ran.
  assert.equal(ran.results[0].status, "failed", ran.text);
  assert.equal(ran.results[0].error?.code, "unsupported");

  const replay = await call(onSecond, "service_control", { ...RESTART, approval_grant: grant });
  assert.equal(replay.results[0].error?.code, "approval_already_used", replay.text);

  const used = await waitForAudit(second.auditFile, (r) => r.event === "approval_used");
  assert.equal((used.detail as Record<string, string>)?.via, "grant");
  assert.equal((used.detail as Record<string, string>)?.decided_by, "local:bob");
  const records = await second.audit();
  const finished = records.filter((r) => r.event === "finished" && r.tool === "service_control");
  assert.equal(finished.length, 1, "the call ran exactly once on the second gateway");
});
