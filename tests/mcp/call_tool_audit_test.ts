import assert from "node:assert/strict";
import { parsePolicy, parseTargets } from "../../src/config/load.ts";
import type { ExecOutcome } from "../../src/exec/host.ts";
import type { Plan } from "../../src/exec/plan.ts";
import { fullIdentity } from "../../src/gate/identity.ts";
import { compilePolicy } from "../../src/gate/policy.ts";
import { type CallDeps, callTool } from "../../src/mcp/call_tool.ts";
import { mustSyncBeforeRun } from "../../src/mcp/_run_target.ts";
import { renderText } from "../../src/mcp/render_text.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { AuditLog, type AuditSink } from "../../src/audit/writer.ts";

const HOST_KEY = `SHA256:${"A".repeat(43)}`;
const TARGETS = `
targets:
  - id: web-1
    type: ssh
    tags: [web]
    capabilities: [system:read, system:control]
    connection: { host: 127.0.0.1, port: 2201, user: ops, password: "\${K}", host_key: "${HOST_KEY}" }
  - id: web-2
    type: ssh
    tags: [web]
    capabilities: [system:read]
    connection: { host: 127.0.0.1, port: 2202, user: ops, password: "\${K}", host_key: "${HOST_KEY}" }
`;

const systemInfo = CATALOG.find((o) => o.name === "system_status")!;
const serviceControl = CATALOG.find((o) => o.name === "service_control")!;

/** A log whose writes fail from the `failFrom`-th on, as a disk that fills up mid-call. */
async function failingLog(failFrom: number) {
  let writes = 0;
  const wrap = (file: AuditSink): AuditSink => ({
    write: (data) => ++writes >= failFrom ? Promise.reject(new Error("ENOSPC")) : file.write(data),
    syncData: () => file.syncData(),
    close: () => file.close(),
  });
  return await AuditLog.open(`${await Deno.makeTempDir()}/audit.jsonl`, {
    wrapFile: wrap,
    monitorMs: 60_000,
  });
}

async function deps(audit: AuditLog, rules = "rules: [{ id: read, tiers: [observe] }]") {
  const registry = await parseTargets(TARGETS, "targets.yaml", {
    secrets: { env: () => "key", readFile: () => Promise.reject(new Error("no files")) },
  });
  const ran: string[] = [];
  const value: CallDeps = {
    registry,
    policy: compilePolicy(
      parsePolicy(rules, "p.yaml"),
      CATALOG,
    ),
    executor: {
      run(target, plan: Plan): Promise<ExecOutcome> {
        ran.push(target.id);
        return Promise.resolve({
          ok: true,
          durationMs: 1,
          result: {
            kind: "exec",
            commands: plan.kind === "exec"
              ? plan.commands.map((c) => ({
                argv: c,
                exitCode: 0,
                signal: null,
                stdout: "",
                stderr: "",
                truncated: false,
                bytes: 0,
              }))
              : [],
          },
        });
      },
    },
    audit,
    redact: (v) => v as Record<string, unknown>,
    scrub: (t) => t,
  };
  return { deps: value, ran };
}

Deno.test("a target that ran when the log failed is told it ran and could not be recorded; later targets do not run", async () => {
  // Write 1: web-1's decided; write 2 (its finished) fails.
  const audit = await failingLog(2);
  const { deps: d, ran } = await deps(audit);
  const outcome = await callTool(d, {
    identity: fullIdentity("alice", "local"),
    operation: systemInfo,
    args: { targets: "tag:web", forks: 1 },
  });
  assert.deepEqual(ran, ["web-1"], "nothing runs after the log failed");
  const [one, two] = outcome.result.results;
  assert.equal(one.target, "web-1");
  assert.equal(one.warning?.code, "audit_unrecorded");
  assert.match(
    one.warning!.message,
    /This call ran on "web-1", but the audit log could not record how it ended \(the gateway keeps the record/,
  );
  assert.doesNotMatch(one.warning!.message, /refuses to run/);
  assert.equal(two.status, "skipped");
  assert.equal(two.error?.code, "audit_unavailable");
  assert.match(
    renderText(systemInfo, outcome.result),
    /Warning \(audit_unrecorded\): This call ran on "web-1"/,
  );
  await audit.close();
});

Deno.test("a call where no target could be recorded before running is refused as a whole", async () => {
  const audit = await failingLog(1);
  const { deps: d, ran } = await deps(audit);
  await assert.rejects(
    callTool(d, {
      identity: fullIdentity("alice", "local"),
      operation: systemInfo,
      args: { targets: "tag:web" },
    }),
    { name: "AuditError" },
  );
  assert.deepEqual(ran, []);
  await audit.close();
});

/** A log whose syncs wait until released; `syncs` counts the syncs started. */
async function blockedSyncLog() {
  const state = { syncs: 0, release: () => {} };
  const released = new Promise<void>((resolve) => state.release = resolve);
  const audit = await AuditLog.open(`${await Deno.makeTempDir()}/audit.jsonl`, {
    monitorMs: 60_000,
    wrapFile: (file) => ({
      write: (data) => file.write(data),
      syncData: async () => {
        state.syncs++;
        await released;
        await file.syncData();
      },
      close: () => file.close(),
    }),
  });
  return { audit, state };
}

Deno.test("an observe call runs and answers once its decided record is written, before any sync ends", async () => {
  const { audit, state } = await blockedSyncLog();
  const { deps: d, ran } = await deps(audit);
  const outcome = await callTool(d, {
    identity: fullIdentity("alice", "local"),
    operation: systemInfo,
    args: { target: "web-1" },
  });
  assert.deepEqual(ran, ["web-1"]);
  assert.equal(outcome.result.results[0].warning, undefined);
  assert.equal(audit.seq, 0, "nothing was synced yet");
  state.release();
  await audit.close();
  const events = (await Deno.readTextFile(audit.path)).trim().split("\n")
    .map((line) => JSON.parse(line).event);
  assert.deepEqual(events, ["decided", "finished"]);
});

Deno.test("a mutating call does not start before its decided record is synced", async () => {
  const { audit, state } = await blockedSyncLog();
  const { deps: d, ran } = await deps(
    audit,
    "rules: [{ id: all, tiers: [observe, control] }]",
  );
  const call = callTool(d, {
    identity: fullIdentity("alice", "local"),
    operation: serviceControl,
    args: { target: "web-1", unit: "nginx.service", action: "restart" },
  });
  for (let i = 0; i < 300 && state.syncs === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(state.syncs, 1, "the decided record's sync started");
  // Let the event loop run well past the write: the executor must still not be called.
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(ran, [], "the executor waits for the sync");
  const text = await Deno.readTextFile(audit.path);
  assert.match(text, /"event":"decided"/, "the record is written, only its sync is pending");
  state.release();
  const outcome = await call;
  assert.deepEqual(ran, ["web-1"]);
  assert.equal(outcome.result.results[0].target, "web-1");
  await audit.close();
});

Deno.test("mustSyncBeforeRun() holds every operation that may change something, and only observe reads run early", () => {
  for (const op of CATALOG) {
    const early = !mustSyncBeforeRun(op);
    assert.equal(early, !op.mutates && !op.destructive && op.tier === "observe", op.name);
  }
  assert.ok(CATALOG.some((op) => !mustSyncBeforeRun(op)), "some reads run early");
  // An operator operation declared `mutates: false` with a control capability still waits.
  assert.equal(mustSyncBeforeRun({ mutates: false, destructive: false, tier: "control" }), true);
  assert.equal(mustSyncBeforeRun({ mutates: false, destructive: false, tier: "observe" }), false);
});
