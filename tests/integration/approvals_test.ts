/**
 * Approvals, windows and rate limits end to end against the real gateway
 * process, with the official SDK client: request → approve (CLI, HTTP,
 * elicitation) → run once; replay, changed call, expiry and self-approval
 * refused; a restart in between; every transition in the audit log.
 *
 * There is no systemd here, so an approved `service_control` ends `failed`
 * with code `unsupported`: it still proves the call ran (`decided` and
 * `finished` records carrying the approval id).
 *
 * @module
 */
import assert from "node:assert/strict";
import { call, type Called } from "./_mcp_checks.ts";
import { type AuditLine, type Client, runCli } from "./_gateway.ts";
import { type AuthGateway, authGateway, ROLES_YAML, waitForAudit } from "./_auth_gateway.ts";

type McpClient = InstanceType<typeof Client>;

const BINDINGS_YAML = [
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
  "    - { token: bob, roles: [approver] }",
  "    - { token: paul, roles: [operator-approver] }",
].join("\n");

/** Observe allowed; control governed by `controlRule` (YAML lines of one rule); alice, bob, paul. */
function policy(controlRule: string[], extra: string[] = []): string {
  return [
    "version: 1",
    "rules:",
    "  - id: observe",
    "    tiers: [observe]",
    ...controlRule.map((line) => `  ${line}`),
    ...extra,
    "identities:",
    ROLES_YAML,
    BINDINGS_YAML,
  ].join("\n");
}

const APPROVE_RULE = [
  "- id: control-approval",
  "  effect: approve",
  "  tiers: [control]",
  "  separation_of_duties: true",
];

const RESTART = { target: "local", unit: "nginx.service", action: "restart" } as const;

interface ApprovalResult extends Called {
  approval?: {
    id: string;
    state: string;
    rule: string;
    requester: string;
    expires: string;
    how_to_approve: string;
  };
}

async function control(
  client: McpClient,
  args: Record<string, unknown> = RESTART,
): Promise<ApprovalResult> {
  const result = await client.callTool({ name: "service_control", arguments: args });
  const called = callFromResult(result);
  const structured = result.structuredContent as { approval?: ApprovalResult["approval"] };
  return { ...called, approval: structured?.approval };
}

function callFromResult(result: Awaited<ReturnType<McpClient["callTool"]>>): Called {
  const content = (result.content ?? []) as { type: string; text?: string }[];
  const structured = result.structuredContent as { results?: Called["results"] } | undefined;
  return {
    isError: result.isError === true,
    text: content.map((c) => c.text ?? "").join("\n"),
    results: structured?.results ?? [],
  };
}

/** Calls that ran under an approval: `decided` and `finished` records carrying its id. */
function ranUnder(audit: AuditLine[], id: string): { decided: number; finished: number } {
  const carries = (r: AuditLine) => r.detail?.approval_id === id && r.tool === "service_control";
  return {
    decided: audit.filter((r) => r.event === "decided" && carries(r)).length,
    finished: audit.filter((r) => r.event === "finished" && carries(r)).length,
  };
}

/** Asserts a call ran once under `id` and ended as systemd-less hosts end it. */
async function assertRanOnce(gw: AuthGateway, called: Called, id: string): Promise<void> {
  assert.equal(called.results.length, 1, called.text);
  assert.equal(called.results[0].status, "failed", called.text);
  assert.equal(called.results[0].error?.code, "unsupported", called.text);
  assert.deepEqual(ranUnder(await gw.audit(), id), { decided: 1, finished: 1 });
}

/** Asserts a call was refused before anything ran, with this code. */
function assertRefused(called: Called, code: string): void {
  assert.equal(called.isError, true, called.text);
  assert.equal(called.results.length, 1, called.text);
  assert.equal(called.results[0].error?.code, code, called.text);
}

async function approveOverHttp(gw: AuthGateway, id: string, token: string): Promise<Response> {
  return await fetch(new URL(`/approvals/${id}/approve`, gw.url), {
    method: "POST",
    headers: { Authorization: `Bearer ${token}` },
  });
}

function events(audit: AuditLine[], id: string): string[] {
  return audit.filter((r) => r.detail?.approval_id === id && r.event.startsWith("approval_"))
    .map((r) => r.event);
}

async function assertAuditIntact(gw: AuthGateway): Promise<void> {
  await gw.stop();
  const verified = await runCli(["audit", "verify", gw.auditFile]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.match(verified.stdout, /^OK: \d+ records, chain intact/);
}

Deno.test("an approval requested by a token, granted by CLI or HTTP, runs its exact call once", async (t) => {
  await using gw = await authGateway(policy(APPROVE_RULE));
  const alice = await gw.mint("alice", "operator");
  const bob = await gw.mint("bob", "approver");
  const paul = await gw.mint("paul", "operator-approver");
  await gw.start();
  let client = await gw.connect({ token: alice.token });

  let first = "";
  await t.step(
    "the first call returns approval_required with an id, and nothing runs",
    async () => {
      const requested = await control(client);
      assert.equal(requested.isError, true);
      assert.equal(requested.results[0].status, "approval_required", requested.text);
      assert.equal(requested.results[0].error?.code, "approval_required");
      assert.ok(requested.approval, requested.text);
      first = requested.approval.id;
      assert.equal(requested.approval.state, "pending");
      assert.equal(requested.approval.requester, "token:alice");
      assert.match(requested.approval.how_to_approve, new RegExp(`approvals approve ${first}`));
      const audit = await gw.audit();
      assert.deepEqual(events(audit, first), ["approval_requested"]);
      assert.equal(audit.filter((r) => r.event === "finished").length, 0, "nothing ran");
    },
  );

  await t.step("approving by CLI is audited by the running gateway within seconds", async () => {
    const approved = await gw.cli(["approvals", "approve", first, "--as", "bob"]);
    assert.equal(approved.code, 0, approved.stderr);
    const granted = await waitForAudit(
      gw.auditFile,
      (r) => r.event === "approval_granted" && r.detail?.approval_id === first,
    );
    assert.equal(granted.identity, "local:bob");
  });

  await t.step("the same call with approval_id runs once", async () => {
    const ran = await control(client, { ...RESTART, approval_id: first });
    await assertRanOnce(gw, ran, first);
    assert.deepEqual(events(await gw.audit(), first), [
      "approval_requested",
      "approval_granted",
      "approval_used",
    ]);
  });

  await t.step("replaying the used approval is refused and runs nothing", async () => {
    const replay = await control(client, { ...RESTART, approval_id: first });
    assertRefused(replay, "approval_already_used");
    assert.deepEqual(ranUnder(await gw.audit(), first), { decided: 1, finished: 1 });
    assert.equal(events(await gw.audit(), first).at(-1), "approval_refused");
  });

  await t.step("an approval for one unit does not cover another unit", async () => {
    const second = (await control(client)).approval!.id;
    const approved = await gw.cli(["approvals", "approve", second, "--as", "bob"]);
    assert.equal(approved.code, 0, approved.stderr);
    const changed = await control(client, {
      ...RESTART,
      unit: "sshd.service",
      approval_id: second,
    });
    assertRefused(changed, "approval_call_mismatch");
    assert.deepEqual(ranUnder(await gw.audit(), second), { decided: 0, finished: 0 });
    // The refusal does not spend the approval: the exact call still runs.
    const exact = await control(client, { ...RESTART, approval_id: second });
    await assertRanOnce(gw, exact, second);
  });

  await t.step("an identity without approvals:grant cannot approve over HTTP", async () => {
    const id = (await control(client)).approval!.id;
    const response = await approveOverHttp(gw, id, alice.token);
    const body = await response.json();
    assert.equal(response.status, 403);
    assert.equal(body.error, "insufficient_scope");
    assert.deepEqual(events(await gw.audit(), id), ["approval_requested"]);
  });

  await t.step("self-approval over HTTP is refused under separation of duties", async (t) => {
    const own = await gw.connect({ token: paul.token });
    const id = (await control(own)).approval!.id;
    const self = await approveOverHttp(gw, id, paul.token);
    const body = await self.json();
    assert.equal(self.status, 403);
    assert.equal(body.error, "self_approval");
    const refused = (await gw.audit()).filter((r) =>
      r.event === "approval_refused" && r.detail?.approval_id === id
    );
    assert.equal(refused.length, 1);
    assert.equal(refused[0].identity, "token:paul");
    const pending = await control(own, { ...RESTART, approval_id: id });
    assertRefused(pending, "approval_not_approved");

    await t.step("and bob's approval over HTTP lets paul's call run", async () => {
      const granted = await approveOverHttp(gw, id, bob.token);
      const info = await granted.json();
      assert.equal(granted.status, 200, JSON.stringify(info));
      assert.equal(info.state, "approved");
      const ran = await control(own, { ...RESTART, approval_id: id });
      await assertRanOnce(gw, ran, id);
      const grant = (await gw.audit()).find((r) =>
        r.event === "approval_granted" && r.detail?.approval_id === id
      );
      assert.equal(grant?.identity, "token:bob");
    });
  });

  await t.step("approvals survive a restart between request and approval", async () => {
    const overHttp = (await control(client)).approval!.id;
    const whileDown = (await control(client, { ...RESTART, unit: "cron.service" })).approval!.id;
    const before = gw.process!.pid;
    await gw.stop();
    // Approved by CLI while no gateway runs: the next gateway must still audit the grant.
    const approved = await gw.cli(["approvals", "approve", whileDown, "--as", "bob"]);
    assert.equal(approved.code, 0, approved.stderr);
    await gw.start();
    assert.notEqual(gw.process!.pid, before);
    client = await gw.connect({ token: alice.token });

    const granted = await approveOverHttp(gw, overHttp, bob.token);
    await granted.body?.cancel();
    assert.equal(granted.status, 200);
    await assertRanOnce(gw, await control(client, { ...RESTART, approval_id: overHttp }), overHttp);

    const ran = await control(client, { ...RESTART, unit: "cron.service", approval_id: whileDown });
    await assertRanOnce(gw, ran, whileDown);
    const grant = await waitForAudit(
      gw.auditFile,
      (r) => r.event === "approval_granted" && r.detail?.approval_id === whileDown,
    );
    assert.equal(grant.identity, "local:bob");
    assert.deepEqual(events(await gw.audit(), whileDown).sort(), [
      "approval_granted",
      "approval_requested",
      "approval_used",
    ]);
  });

  await t.step("a denial by CLI is audited, and the call stays refused", async () => {
    const id = (await control(client, { ...RESTART, action: "stop" })).approval!.id;
    const denied = await gw.cli(["approvals", "deny", id, "--as", "bob", "--reason", "not today"]);
    assert.equal(denied.code, 0, denied.stderr);
    const record = await waitForAudit(
      gw.auditFile,
      (r) => r.event === "approval_denied" && r.detail?.approval_id === id,
    );
    assert.equal(record.identity, "local:bob");
    const refused = await control(client, { ...RESTART, action: "stop", approval_id: id });
    assertRefused(refused, "approval_not_approved");
    assert.match(refused.results[0].error!.message, /not today/);
    assert.deepEqual(ranUnder(await gw.audit(), id), { decided: 0, finished: 0 });
  });

  await t.step("every transition is in the audit log, and audit verify prints OK", async () => {
    const audit = await gw.audit();
    assert.deepEqual(events(audit, first), [
      "approval_requested",
      "approval_granted",
      "approval_used",
      "approval_refused",
    ]);
    await assertAuditIntact(gw);
  });
});

Deno.test("an approved approval past its approval_ttl is refused as expired", async () => {
  await using gw = await authGateway(policy([...APPROVE_RULE, "  approval_ttl: 1s"]));
  const alice = await gw.mint("alice", "operator");
  const bob = await gw.mint("bob", "approver");
  await gw.start();
  const client = await gw.connect({ token: alice.token });
  const requested = await control(client);
  const id = requested.approval!.id;
  const expires = Date.parse(requested.approval!.expires);
  const granted = await approveOverHttp(gw, id, bob.token);
  await granted.body?.cancel();
  assert.equal(granted.status, 200, "approved within its second");
  // The shortest TTL the schema allows is 1 s: wait for exactly that instant to pass.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, expires - Date.now()) + 100));
  const late = await control(client, { ...RESTART, approval_id: id });
  assertRefused(late, "approval_expired");
  const audit = await gw.audit();
  assert.deepEqual(ranUnder(audit, id), { decided: 0, finished: 0 });
  const trail = events(audit, id);
  assert.deepEqual(trail.slice(0, 2), ["approval_requested", "approval_granted"]);
  assert.ok(trail.includes("approval_expired"), trail.join(", "));
  await assertAuditIntact(gw);
});

Deno.test("a confirm rule runs the call when the client's user accepts the elicitation", async (t) => {
  await using gw = await authGateway(policy([
    "- id: control-confirm",
    "  effect: approve",
    "  tiers: [control]",
    "  confirm: true",
  ]));
  const alice = await gw.mint("alice", "operator");
  await gw.start();

  await t.step("accept: runs without any approval_id", async () => {
    const client = await gw.connect({ token: alice.token, elicit: "accept" });
    const ran = await control(client);
    const id = (await gw.audit()).find((r) => r.event === "approval_requested")?.detail
      ?.approval_id as string;
    assert.ok(id);
    await assertRanOnce(gw, ran, id);
    assert.deepEqual(events(await gw.audit(), id), [
      "approval_requested",
      "approval_granted",
      "approval_used",
    ]);
  });

  await t.step("decline: approval_declined, and nothing runs", async () => {
    const client = await gw.connect({ token: alice.token, elicit: "decline" });
    const declined = await control(client, { ...RESTART, unit: "cron.service" });
    assertRefused(declined, "approval_declined");
    const audit = await gw.audit();
    const denied = audit.filter((r) => r.event === "approval_denied");
    assert.equal(denied.length, 1);
    assert.equal(denied[0].identity, "token:alice");
    const id = denied[0].detail!.approval_id as string;
    assert.deepEqual(ranUnder(audit, id), { decided: 0, finished: 0 });
  });

  await t.step("a client without elicitation gets approval_required instead", async () => {
    const client = await gw.connect({ token: alice.token });
    const asked = await control(client, { ...RESTART, unit: "ssh.service" });
    assertRefused(asked, "approval_required");
    assert.ok(asked.approval?.id);
  });

  await t.step("audit verify prints OK", () => assertAuditIntact(gw));
});

/** `HH:00` of the UTC hour `offset` hours from now. */
function utcHour(now: Date, offset: number): string {
  return `${String((now.getUTCHours() + offset) % 24).padStart(2, "0")}:00`;
}

Deno.test("a control call outside its window is denied with the next window's start", async () => {
  // A one-hour window every day, opening two hours after the current UTC hour began:
  // closed now whatever the clock says.
  const now = new Date();
  const opens = new Date(now);
  opens.setUTCHours(now.getUTCHours() + 2, 0, 0, 0);
  await using gw = await authGateway(policy([
    "- id: control-in-window",
    "  tiers: [control]",
    "  windows:",
    `    - hours: ["${utcHour(now, 2)}-${utcHour(now, 3)}"]`,
    "      timezone: UTC",
  ]));
  const alice = await gw.mint("alice", "operator");
  await gw.start();
  const client = await gw.connect({ token: alice.token });
  const denied = await control(client);
  assertRefused(denied, "outside_window");
  assert.equal(denied.results[0].status, "denied");
  assert.ok(
    denied.results[0].error!.message.includes(opens.toISOString()),
    `${denied.results[0].error!.message} should name ${opens.toISOString()}`,
  );
  const audit = await gw.audit();
  assert.equal(audit.filter((r) => r.event === "finished").length, 0);
  assert.equal(
    audit.filter((r) => r.event === "denied" && r.reason === "outside_window").length,
    1,
  );
  const observe = await call(client, "system_status", { target: "local" });
  assert.equal(observe.results[0].status, "ok", "observe calls are not governed by the window");
  await assertAuditIntact(gw);
});

Deno.test("a second control call within the rate limit's burst is a rate_limited tool error", async () => {
  await using gw = await authGateway(policy(
    ["- id: control", "  tiers: [control]"],
    ["rate_limits:", "  control: { per_minute: 1, burst: 1 }"],
  ));
  const alice = await gw.mint("alice", "operator");
  await gw.start();
  const client = await gw.connect({ token: alice.token });
  const first = await control(client);
  assert.equal(first.results[0].status, "failed", first.text);
  assert.equal(first.results[0].error?.code, "unsupported");
  const second = await control(client);
  assert.equal(second.isError, true);
  assert.match(second.text, /^rate_limited: Too many control calls: retry in \d+ s$/);
  const seconds = Number(/retry in (\d+) s/.exec(second.text)![1]);
  assert.ok(seconds >= 1 && seconds <= 60, second.text);
  const observe = await call(client, "system_status", { target: "local" });
  assert.equal(observe.results[0].status, "ok", "observe has its own bucket");
  const audit = await gw.audit();
  assert.equal(
    audit.filter((r) => r.event === "finished" && r.tool === "service_control").length,
    1,
  );
  await assertAuditIntact(gw);
});

Deno.test("an approver whose approvals:grant covers other targets sees and decides nothing about this one over HTTP", async (t) => {
  // carol holds approvals:grant only on a target that does not exist here.
  const limited = policy(APPROVE_RULE).replace(
    "  bindings:",
    [
      "    far-approver: { scopes: [system:read, approvals:grant], targets: [tag:far] }",
      "  bindings:",
      "    - { token: carol, roles: [far-approver] }",
    ].join("\n"),
  );
  await using gw = await authGateway(limited);
  const alice = await gw.mint("alice", "operator");
  const bob = await gw.mint("bob", "approver");
  const carol = await gw.mint("carol", "far-approver");
  await gw.start();
  const client = await gw.connect({ token: alice.token });
  const id = (await control(client)).approval!.id;
  const as = (token: string, path: string, init: RequestInit = {}) =>
    fetch(new URL(path, gw.url), {
      ...init,
      headers: { Authorization: `Bearer ${token}`, ...init.headers },
    });

  await t.step("its list leaves the approval out; the full approver's shows it", async () => {
    const mine = await (await as(carol.token, "/approvals")).json();
    assert.deepEqual(mine.approvals, []);
    const all = await (await as(bob.token, "/approvals?state=pending")).json();
    assert.deepEqual(all.approvals.map((a: { id: string }) => a.id), [id]);
  });

  await t.step("reading, approving or denying it answers exactly like an unknown id", async () => {
    const unknown = "00000000-0000-4000-8000-000000000000";
    for (
      const [path, method] of [
        [`/approvals/${id}`, "GET"],
        [`/approvals/${id}/approve`, "POST"],
        [`/approvals/${id}/deny`, "POST"],
      ] as const
    ) {
      const response = await as(carol.token, path, { method });
      const body = await response.json();
      const twin = await as(carol.token, path.replace(id, unknown), { method });
      const twinBody = await twin.json();
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.equal(twin.status, 404);
      assert.equal(body.error, twinBody.error);
      assert.equal(body.error_description, twinBody.error_description.replace(unknown, id));
    }
    // Other spellings of the id do not reach it either.
    for (const spelled of [id.toUpperCase(), encodeURIComponent(id), `${id}%2F`, ` ${id}`]) {
      const response = await as(carol.token, `/approvals/${spelled}/approve`, { method: "POST" });
      assert.ok([400, 404].includes(response.status), `${spelled}: ${response.status}`);
      await response.body?.cancel();
    }
  });

  await t.step(
    "the approval is still pending, nothing ran, and bob can still approve it",
    async () => {
      const audit = await gw.audit();
      assert.deepEqual(events(audit, id), ["approval_requested"]);
      const response = await approveOverHttp(gw, id, bob.token);
      assert.equal(response.status, 200, await response.text());
      const ran = await control(client, { ...RESTART, approval_id: id });
      await assertRanOnce(gw, ran, id);
    },
  );
  await client.close();
});
