/**
 * Several real gateways sharing state through a real PostgreSQL: approvals
 * are used once across all of them (by id, by signed grant, in a race),
 * a revocation on one is refused by all, rate limits hold across them,
 * sessions cannot be hijacked through another gateway, the audit mirror
 * verifies and shows a removed record, and losing the database fails closed
 * and recovers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call } from "./_mcp_checks.ts";
import {
  cluster,
  eventually,
  initialize,
  POSTGRES_MISSING,
  SHARED_POLICY as POLICY,
} from "./_shared_state.ts";

const RESTART = { target: "local", unit: "nginx.service", action: "restart" } as const;
const ignore = POSTGRES_MISSING !== undefined;
if (ignore) console.warn(`Skipping shared state tests: ${POSTGRES_MISSING}`);

type Client = Awaited<ReturnType<Awaited<ReturnType<typeof cluster>>["gateways"][0]["connect"]>>;

/** Requests an approval as the client and approves it through the CLI of another gateway. */
async function approvedRequest(
  c: Awaited<ReturnType<typeof cluster>>,
  client: Client,
): Promise<{ id: string; grant: string }> {
  const requested = await client.callTool({ name: "service_control", arguments: RESTART });
  const approval = (requested.structuredContent as { approval?: { id: string } }).approval;
  assert.ok(approval, JSON.stringify(requested));
  const approver = c.gateways.at(-1)!;
  const approved = await approver.cli(["approvals", "approve", approval.id, "--as", "carol"]);
  assert.equal(approved.code, 0, approved.stderr);
  const granted = await c.gateways[1].cli(["approvals", "grant", approval.id]);
  assert.equal(granted.code, 0, granted.stderr);
  return { id: approval.id, grant: granted.stdout.trim() };
}

async function ranCount(c: Awaited<ReturnType<typeof cluster>>): Promise<number> {
  let n = 0;
  for (const g of c.gateways) {
    n += (await g.audit()).filter((r) => r.event === "finished" && r.tool === "service_control")
      .length;
  }
  return n;
}

Deno.test({
  name:
    "an approval used on one gateway is refused on the others, by id and by signed grant, and a race of redemptions runs it once",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Shared control limits (10 per identity by default) would refuse part of the race.
    const policy = `${POLICY}\nrate_limits:\n  control: { per_minute: 600, burst: 100 }\n`;
    await using c = await cluster(3, policy);
    const { token } = await c.mint("alice", "operator");
    const clients = await Promise.all(c.gateways.map((g) => g.connect({ token })));

    // The request made on A is listed on B: approvals are shared.
    const first = await approvedRequest(c, clients[0]);
    const listed = await c.gateways[1].cli(["approvals", "list", "--json"]);
    assert.match(listed.stdout, new RegExp(first.id));

    // Used by id on B; then the grant on C and the id on A are refused.
    const ran = await call(clients[1], "service_control", { ...RESTART, approval_id: first.id });
    assert.equal(ran.results[0].error?.code, "unsupported", ran.text);
    const byGrant = await call(clients[2], "service_control", {
      ...RESTART,
      approval_grant: first.grant,
    });
    assert.equal(byGrant.results[0].error?.code, "approval_already_used", byGrant.text);
    const byId = await call(clients[0], "service_control", { ...RESTART, approval_id: first.id });
    assert.equal(byId.results[0].error?.code, "approval_already_used", byId.text);

    // The other way round: the grant first (on C), then the id (on A) is refused.
    const second = await approvedRequest(c, clients[0]);
    const grantRan = await call(clients[2], "service_control", {
      ...RESTART,
      approval_grant: second.grant,
    });
    assert.equal(grantRan.results[0].error?.code, "unsupported", grantRan.text);
    const idAfter = await call(clients[0], "service_control", {
      ...RESTART,
      approval_id: second.id,
    });
    assert.equal(idAfter.results[0].error?.code, "approval_already_used", idAfter.text);
    assert.equal(await ranCount(c), 2);

    // A race: each gateway gets the id and the grant at the same moment; one runs.
    const third = await approvedRequest(c, clients[0]);
    const attempts = await Promise.all(
      clients.flatMap((client) => [
        call(client, "service_control", { ...RESTART, approval_id: third.id }),
        call(client, "service_control", { ...RESTART, approval_grant: third.grant }),
      ]),
    );
    const codes = attempts.map((a) => a.results[0]?.error?.code ?? a.text);
    assert.equal(codes.filter((code) => code === "unsupported").length, 1, codes.join(", "));
    assert.equal(
      codes.filter((code) => code === "approval_already_used").length,
      attempts.length - 1,
      codes.join(", "),
    );
    assert.equal(await ranCount(c), 3, "the raced approval ran exactly once");
  },
});

Deno.test({
  name: "a token revoked through one gateway's state is refused by every gateway",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(3, POLICY);
    const { token, jti } = await c.mint("bob", "operator");
    for (const g of c.gateways) assert.equal((await initialize(g.port, token)).status, 200);
    const revoked = await c.gateways[0].cli(["token", "revoke", jti]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const started = Date.now();
    for (const g of c.gateways.slice(1)) {
      const refused = await eventually("the revocation to reach a gateway", async () => {
        const answer = await initialize(g.port, token);
        return answer.status === 401 ? answer : undefined;
      });
      assert.match(refused.body + "", /revoked|invalid_token/);
    }
    // Measured, not asserted (a shared, loaded machine): notifications make it sub-second.
    console.log(`revocation effective on the other gateways after ${Date.now() - started} ms`);
    // The ledger is shared too: every gateway's CLI lists the token as revoked.
    const listed = await c.gateways[2].cli(["token", "list", "--json"]);
    assert.match(listed.stdout, /"state": "revoked"/);
  },
});

Deno.test({
  name:
    "rate limits hold across gateways, and a session opened on one cannot be taken over on another",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const policy = `${POLICY}\nrate_limits:\n  observe: { per_minute: 0.01, burst: 3 }\n`;
    await using c = await cluster(3, policy);
    const alice = await c.mint("alice", "operator");
    const bob = await c.mint("bob", "operator");
    const clients = await Promise.all(c.gateways.map((g) => g.connect({ token: alice.token })));
    const outcomes: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      const result = await call(clients[i % 3], "system_status", { target: "local" });
      if (result.isError) assert.match(result.text, /Too many observe calls/);
      outcomes.push(!result.isError);
    }
    assert.deepEqual(outcomes, [true, true, true, false, false, false]);

    const opened = await initialize(c.gateways[0].port, alice.token);
    assert.equal(opened.status, 200);
    assert.ok(opened.session);
    const hijack = await initialize(c.gateways[1].port, bob.token, opened.session);
    assert.equal(hijack.status, 403, hijack.body);
    const owner = await initialize(c.gateways[1].port, alice.token, opened.session);
    assert.equal(owner.status, 404, "the owner is told the session lives elsewhere");
  },
});

Deno.test({
  name: "the audit mirror verifies every gateway's chain and reports a record removed from it",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(2, POLICY);
    const { token } = await c.mint("alice", "operator");
    for (const g of c.gateways) {
      const client = await g.connect({ token });
      for (let i = 0; i < 3; i++) await call(client, "system_status", { target: "local" });
    }
    const ids = await Promise.all(
      c.gateways.map(async (g) => (await Deno.readTextFile(`${g.stateDir}/gateway.id`)).trim()),
    );
    const verify = () => c.gateways[0].cli(["audit", "verify", "--state-url", c.pg.socketUrl]);
    // Shipping is asynchronous: wait until each chain holds what the local log held by now.
    const local = await Promise.all(c.gateways.map(async (g) => (await g.audit()).length));
    const ok = await eventually("both chains in the mirror", async () => {
      const run = await verify();
      const complete = ids.every((id, i) => {
        const count = Number(new RegExp(`${id}: OK: (\\d+) records`).exec(run.stdout)?.[1]);
        return count >= local[i];
      });
      return run.code === 0 && complete ? run : undefined;
    });
    assert.doesNotMatch(ok.stdout, /GAP|BROKEN/);
    await c.pg.sql(`DELETE FROM tailops_audit_mirror WHERE gateway = '${ids[0]}' AND seq = 3`);
    const broken = await verify();
    assert.equal(broken.code, 1, broken.stdout);
    assert.match(broken.stdout, new RegExp(`${ids[0]}: GAP: records 3 missing`));
    assert.match(broken.stdout, new RegExp(`${ids[1]}: OK`));
  },
});

Deno.test({
  name:
    "losing PostgreSQL fails shared operations closed with a clear error and /readyz, and they recover when it returns",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await cluster(2, POLICY);
    const alice = await c.mint("alice", "operator");
    const admin = c.gateways[0];
    const client = await admin.connect({ token: alice.token });
    const readyz = async (port: number) => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    assert.equal(await readyz(admin.port), 200);
    assert.equal((await call(client, "system_status", { target: "local" })).isError, false);

    await c.pg.kill();
    for (const g of c.gateways) {
      await eventually("/readyz to fail", async () => (await readyz(g.port)) === 503 || undefined);
    }
    const body = await (await fetch(`http://127.0.0.1:${admin.port}/readyz`)).json();
    assert.match(body.reason, /shared state database is unreachable/);
    // Gateway tokens: revocations cannot be checked, so the token is refused, saying why.
    const refused = await initialize(c.gateways[1].port, alice.token);
    assert.equal(refused.status, 401);
    // With the admin token (no revocation check) a call is refused as a tool error.
    const adminClient = await admin.connect({ token: await adminToken(admin) });
    const observe = await call(adminClient, "system_status", { target: "local" });
    assert.equal(observe.isError, true);
    assert.match(observe.text, /shared state database is unreachable/);

    await c.pg.restart();
    for (const g of c.gateways) {
      await eventually("/readyz to pass", async () => (await readyz(g.port)) === 200 || undefined);
    }
    assert.equal((await initialize(c.gateways[1].port, alice.token)).status, 200);
    const again = await call(adminClient, "system_status", { target: "local" });
    // On failure, say what the gateway logged (it failed once under load in CI, never alone).
    const errors = () =>
      (admin.process?.stderr() ?? "").split("\n").filter((l) => l.includes('"ERROR"')).join("\n");
    assert.equal(again.isError, false, `${again.text}\n${errors()}`);
  },
});

async function adminToken(g: { stateDir: string }): Promise<string> {
  return (await Deno.readTextFile(`${g.stateDir}/admin.token`)).trim();
}
