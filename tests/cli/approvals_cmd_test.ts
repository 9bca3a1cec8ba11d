import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { APPROVALS_HELP } from "../../src/cli/help.ts";
import { localApprover } from "../../src/cli/approvals_cmd.ts";
import { ApprovalStore } from "../../src/gate/approvals.ts";

const PLAN = { kind: "argv", argv: ["systemctl", "restart", "--", "nginx.service"] };

/** A temp state dir with one pending approval requested by `local:alice`. */
async function withApproval(
  fn: (ctx: { stateDir: string; id: string; store: ApprovalStore }) => Promise<void>,
  options: { ttlMs?: number; separationOfDuties?: boolean; created?: Date } = {},
): Promise<void> {
  const stateDir = await Deno.makeTempDir({ prefix: "tailops-cli-approvals-" });
  try {
    const store = new ApprovalStore({ stateDir });
    const { approval } = await store.request({
      requester: "local:alice",
      tool: "service_restart",
      targets: ["web-2", "web-1"],
      args: { unit: "nginx", dry_run: false },
      rule: "prod-control",
      summary: "Restart nginx on web-1, web-2",
      plan: PLAN,
      terms: {
        ttlMs: options.ttlMs ?? 15 * 60_000,
        separationOfDuties: options.separationOfDuties ?? true,
      },
    }, { now: options.created ?? new Date() });
    await fn({ stateDir, id: approval.id, store });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
}

Deno.test("approvals list shows a pending approval; --json and --state filter", async () => {
  await withApproval(async ({ stateDir, id }) => {
    const run = await cli("approvals", "list", "--state-dir", stateDir);
    assert.equal(run.code, 0, run.err);
    const [header, row, extra] = run.out.split("\n");
    assert.match(header, /^ID +STATE +REQUESTER +TOOL +TARGETS +EXPIRES$/);
    assert.match(
      row,
      new RegExp(`^${id} +pending +local:alice +service_restart +web-1,web-2 +\\S+Z$`),
    );
    assert.equal(extra, undefined);

    const json = JSON.parse(
      (await cli("approvals", "list", "--json", "--state-dir", stateDir)).out,
    );
    assert.equal(json.length, 1);
    assert.equal(json[0].id, id);
    assert.deepEqual(json[0].plan, PLAN);

    const approved = await cli("approvals", "list", "--state", "approved", "--state-dir", stateDir);
    assert.equal(approved.code, 0);
    assert.match(approved.out, /^No approved approvals in /);

    const bad = await cli("approvals", "list", "--state", "waiting", "--state-dir", stateDir);
    assert.equal(bad.code, 2);
    assert.match(
      bad.err,
      /Invalid --state "waiting": expected one of pending, approved, denied, expired, used/,
    );
  });
});

Deno.test("approvals show prints summary, requester, targets, rule, exact plan, expiry and state", async () => {
  await withApproval(async ({ stateDir, id, store }) => {
    const run = await cli("approvals", "show", id, "--state-dir", stateDir);
    assert.equal(run.code, 0, run.err);
    const approval = (await store.get(id))!;
    assert.match(run.out, new RegExp(`^Approval ${id}: pending`));
    assert.match(run.out, /Summary: +Restart nginx on web-1, web-2/);
    assert.match(run.out, /Requester: +local:alice/);
    assert.match(run.out, /Targets: +web-1, web-2/);
    assert.match(run.out, /Rule: +prod-control \(separation of duties/);
    assert.match(run.out, new RegExp(`Expires: +${approval.expires}`));
    assert.match(run.out, /Arguments: +\{"unit":"nginx"\}/);
    assert.ok(run.out.includes('"nginx.service"'), "the exact plan is shown");
    assert.match(run.out, new RegExp(`tailops approvals approve ${id}`));
  });
});

Deno.test("approvals approve as another local user approves, with a signed grant", async () => {
  await withApproval(async ({ stateDir, id, store }) => {
    const run = await cli("approvals", "approve", id, "--as", "bob", "--state-dir", stateDir);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, new RegExp(`^Approved ${id} as local:bob`));
    assert.match(run.out, /local:alice may now call service_restart on web-1, web-2 once/);
    const approval = (await store.get(id))!;
    assert.equal(approval.state, "approved");
    assert.equal(approval.decided_by, "local:bob");
    assert.ok(approval.grant, "a grant signed with the gateway key");

    const listed = await cli("approvals", "list", "--state", "approved", "--state-dir", stateDir);
    assert.match(listed.out, new RegExp(`${id} +approved`));
    const twice = await cli("approvals", "approve", id, "--as", "carol", "--state-dir", stateDir);
    assert.equal(twice.code, 1);
    assert.match(twice.err, new RegExp(`Approval ${id} is approved: expected a pending approval`));
  });
});

Deno.test("approvals approve by the requester is refused under separation of duties", async () => {
  await withApproval(async ({ stateDir, id, store }) => {
    const run = await cli("approvals", "approve", id, "--as", "alice", "--state-dir", stateDir);
    assert.equal(run.code, 1);
    assert.equal(
      run.err,
      `tailops: Cannot approve ${id}: separation of duties requires an approver other than the requester "local:alice"`,
    );
    assert.equal(run.out, "");
    assert.equal((await store.get(id))!.state, "pending", "nothing changed");

    // Without --as, the approver is local:$USER.
    const user = Deno.env.get("USER");
    Deno.env.set("USER", "alice");
    try {
      assert.equal(localApprover(undefined), "local:alice");
      const self = await cli("approvals", "approve", id, "--state-dir", stateDir);
      assert.equal(self.code, 1);
      assert.match(self.err, /separation of duties/);
    } finally {
      if (user === undefined) Deno.env.delete("USER");
      else Deno.env.set("USER", user);
    }
  });
});

Deno.test("approvals approve by the requester is allowed when the rule has no separation of duties", async () => {
  await withApproval(async ({ stateDir, id, store }) => {
    const run = await cli("approvals", "approve", id, "--as", "alice", "--state-dir", stateDir);
    assert.equal(run.code, 0, run.err);
    assert.equal((await store.get(id))!.state, "approved");
  }, { separationOfDuties: false });
});

Deno.test("approvals deny records the reason, which show then prints", async () => {
  await withApproval(async ({ stateDir, id, store }) => {
    const run = await cli(
      "approvals",
      "deny",
      id,
      "--reason",
      "not during business hours",
      "--as",
      "bob",
      "--state-dir",
      stateDir,
    );
    assert.equal(run.code, 0, run.err);
    assert.equal(run.out, `Denied ${id} as local:bob: not during business hours`);
    const approval = (await store.get(id))!;
    assert.equal(approval.state, "denied");
    assert.equal(approval.reason, "not during business hours");
    const shown = await cli("approvals", "show", id, "--state-dir", stateDir);
    assert.match(shown.out, /Decided: +denied by local:bob/);
    assert.match(shown.out, /Reason: +not during business hours/);
    assert.ok(!shown.out.includes("To approve"), "no approve hint once decided");
  });
});

Deno.test("approvals with an unknown or malformed id is a clear error", async () => {
  await withApproval(async ({ stateDir, id }) => {
    const unknown = "apr_AAAAAAAAAAAAAAAAAAAAAA";
    for (const command of ["show", "approve", "deny"]) {
      const run = await cli("approvals", command, unknown, "--state-dir", stateDir);
      assert.equal(run.code, 1, command);
      assert.match(
        run.err,
        new RegExp(
          `^tailops: No approval "${unknown}" in .*/approvals: expected an id from tailops approvals list$`,
        ),
      );
    }
    const malformed = await cli("approvals", "approve", "1234", "--state-dir", stateDir);
    assert.equal(malformed.code, 2);
    assert.match(
      malformed.err,
      /Invalid approval id "1234": expected "apr_" and 22 base64url characters/,
    );
    const missing = await cli("approvals", "approve", "--state-dir", stateDir);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /Usage: tailops approvals approve ID/);
    const badAs = await cli("approvals", "deny", unknown, "--as", "local:bob");
    assert.equal(badAs.code, 2);
    assert.match(badAs.err, /Invalid --as "local:bob": expected a local name such as alice/);
    const unknownCommand = await cli("approvals", "grand");
    assert.equal(unknownCommand.code, 2);
    assert.match(unknownCommand.err, /Unknown approvals command "grand"/);
    const noGrant = await cli("approvals", "grant", id, "--state-dir", stateDir);
    assert.equal(noGrant.code, 1, "a pending approval has no grant yet");
    assert.match(
      noGrant.err,
      /has no signed grant: expected an approved approval, found state pending/,
    );
  });
});

Deno.test("approvals past their expiry show as expired and cannot be approved", async () => {
  await withApproval(async ({ stateDir, id }) => {
    const listed = await cli("approvals", "list", "--state", "expired", "--state-dir", stateDir);
    assert.match(listed.out, new RegExp(`${id} +expired`));
    const run = await cli("approvals", "approve", id, "--as", "bob", "--state-dir", stateDir);
    assert.equal(run.code, 1);
    assert.match(run.err, new RegExp(`Approval ${id} expired at .*: request a new one`));
  }, { ttlMs: 1000, created: new Date(Date.now() - 60_000) });
});

Deno.test("approvals --help says the gateway, not the CLI, writes the audit records", async () => {
  const run = await cli("approvals", "--help");
  assert.equal(run.code, 0);
  assert.equal(run.out, APPROVALS_HELP);
  assert.match(APPROVALS_HELP, /writes no audit\s+record itself/);
  assert.match(APPROVALS_HELP, /local:USER/);
});
