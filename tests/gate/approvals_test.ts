import assert from "node:assert/strict";
import { createLocalJWKSet, decodeProtectedHeader, exportJWK, generateKeyPair } from "jose";
import { loadOrCreateGatewayKey } from "../../src/auth/gateway_key.ts";
import {
  type ApprovalCall,
  ApprovalStore,
  ApprovalStoreError,
  computeBinding,
  notifyWebhook,
  verifyGrant,
} from "../../src/gate/approvals.ts";

const T0 = new Date("2025-01-01T12:00:00Z");
const later = (minutes: number) => new Date(T0.getTime() + minutes * 60_000);
const call: ApprovalCall = {
  requester: "token:alice",
  tool: "service_restart",
  targets: ["web-2", "web-1"],
  args: { unit: "nginx.service", dry_run: false },
};

async function keyPair() {
  const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
  return { kid: "k1", privateKey, publicKey };
}

async function setup(terms?: { separationOfDuties?: boolean; confirm?: boolean; ttlMs?: number }) {
  const stateDir = await Deno.makeTempDir();
  const key = await keyPair();
  const store = new ApprovalStore({ stateDir, signingKey: key });
  const { approval, audit } = await store.request(
    {
      ...call,
      rule: "restarts",
      summary: "restart nginx on web-1, web-2",
      plan: { argv: ["x"] },
      terms,
    },
    { now: T0 },
  );
  return { stateDir, key, store, approval, audit };
}

Deno.test("request() records a pending approval bound to the exact call", async () => {
  const { stateDir, approval, audit } = await setup();
  assert.match(approval.id, /^apr_[A-Za-z0-9_-]{22}$/);
  assert.equal(approval.state, "pending");
  assert.deepEqual(approval.targets, ["web-1", "web-2"]);
  assert.deepEqual(approval.args, { unit: "nginx.service" }, "dry_run is not bound");
  assert.equal(
    approval.binding,
    await computeBinding({ ...call, targets: ["web-1", "web-2", "web-1"] }),
  );
  assert.equal(approval.expires, "2025-01-01T12:15:00.000Z");
  assert.equal(approval.separation_of_duties, true);
  assert.equal(audit.event, "approval_requested");
  assert.equal(audit.detail.approval_id, approval.id);
  const info = await Deno.stat(`${stateDir}/approvals/${approval.id}.json`);
  assert.equal(info.mode! & 0o777, 0o600);
});

Deno.test("an approved request is consumed once, and a replay is refused", async () => {
  const { store, approval } = await setup();
  const approved = await store.approve(approval.id, "token:bob", { now: later(1) });
  assert.equal(approved.ok && approved.approval.state, "approved");
  assert.equal(approved.ok && approved.audit.event, "approval_granted");
  const used = await store.consume(approval.id, {
    ...call,
    args: { unit: "nginx.service", approval_id: approval.id },
    now: later(2),
  });
  assert.equal(used.ok && used.approval.state, "used");
  assert.equal(used.ok && used.audit.event, "approval_used");
  const replay = await store.consume(approval.id, { ...call, now: later(3) });
  assert.equal(!replay.ok && replay.code, "already_used");
  assert.match(!replay.ok ? replay.reason : "", /already used at 2025-01-01T12:02:00.000Z/);
  assert.equal(!replay.ok && replay.audit?.event, "approval_refused");
});

Deno.test("concurrent consumes of one approval let exactly one through", async () => {
  const { stateDir, store, approval } = await setup();
  await store.approve(approval.id, "token:bob", { now: later(1) });
  const other = new ApprovalStore({ stateDir });
  const results = await Promise.all([
    store.consume(approval.id, { ...call, now: later(2) }),
    store.consume(approval.id, { ...call, now: later(2) }),
    other.consume(approval.id, { ...call, now: later(2) }),
  ]);
  assert.equal(results.filter((r) => r.ok).length, 1);
});

Deno.test("a changed argument, target or requester is refused with what changed", async () => {
  const { store, approval } = await setup();
  await store.approve(approval.id, "token:bob", { now: later(1) });
  const changed = await store.consume(approval.id, {
    ...call,
    args: { unit: "sshd.service" },
    now: later(2),
  });
  assert.equal(!changed.ok && changed.code, "call_mismatch");
  assert.equal(
    !changed.ok && changed.reason,
    `Approval ${approval.id} does not cover this call: argument "unit" changed: approved "nginx.service", found "sshd.service"; a changed call needs a new approval`,
  );
  const added = await store.consume(approval.id, {
    ...call,
    args: { ...call.args, force: true },
    now: later(2),
  });
  assert.match(
    !added.ok ? added.reason : "",
    /argument "force" changed: approved nothing, found true/,
  );
  const target = await store.consume(approval.id, { ...call, targets: ["web-1"], now: later(2) });
  assert.match(!target.ok ? target.reason : "", /targets \["web-1","web-2"\], not \["web-1"\]/);
  const other = await store.consume(approval.id, {
    ...call,
    requester: "token:mallory",
    now: later(2),
  });
  assert.match(!other.ok ? other.reason : "", /requested by "token:alice", not "token:mallory"/);
  assert.equal(
    (await store.consume(approval.id, { ...call, now: later(3) })).ok,
    true,
    "still usable by the exact call",
  );
});

Deno.test("an expired approval is refused and cannot be approved", async () => {
  const { store, approval } = await setup();
  await store.approve(approval.id, "token:bob", { now: later(1) });
  const late = await store.consume(approval.id, { ...call, now: later(15) });
  assert.equal(!late.ok && late.code, "expired");
  assert.equal(!late.ok && late.audit?.event, "approval_expired");
  assert.equal((await store.get(approval.id))?.state, "expired");
  const second = await setup({ ttlMs: 60_000 });
  const tooLate = await second.store.approve(second.approval.id, "token:bob", { now: later(1) });
  assert.equal(!tooLate.ok && tooLate.code, "expired");
});

Deno.test("sweep() expires pending and unused approvals past their expiry", async () => {
  const { store, approval } = await setup();
  assert.deepEqual(await store.sweep(later(14)), []);
  const events = await store.sweep(later(16));
  assert.deepEqual(events.map((e) => [e.event, e.detail.approval_id]), [[
    "approval_expired",
    approval.id,
  ]]);
  assert.deepEqual(await store.sweep(later(17)), [], "expired once");
});

Deno.test("self-approval is refused under separation of duties and allowed for confirm rules", async () => {
  const strict = await setup();
  const self = await strict.store.approve(strict.approval.id, "token:alice", { now: later(1) });
  assert.equal(!self.ok && self.code, "self_approval");
  assert.match(
    !self.ok ? self.reason : "",
    /separation of duties requires an approver other than the requester "token:alice"/,
  );
  assert.equal((await strict.store.get(strict.approval.id))?.state, "pending");
  const confirm = await setup({ confirm: true });
  assert.equal(confirm.approval.separation_of_duties, false);
  const confirmed = await confirm.store.approve(confirm.approval.id, "token:alice", {
    now: later(1),
  });
  assert.equal(confirmed.ok, true);
});

Deno.test("a denied or pending approval does not run the call", async () => {
  const { store, approval } = await setup();
  const pending = await store.consume(approval.id, { ...call, now: later(1) });
  assert.equal(!pending.ok && pending.code, "not_approved");
  const denied = await store.deny(approval.id, "token:bob", {
    reason: "not during the sale",
    now: later(1),
  });
  assert.equal(denied.ok && denied.audit.event, "approval_denied");
  const after = await store.consume(approval.id, { ...call, now: later(2) });
  assert.match(!after.ok ? after.reason : "", /denied by "token:bob": not during the sale/);
  const again = await store.approve(approval.id, "token:carol", { now: later(2) });
  assert.equal(!again.ok && again.code, "not_pending");
});

Deno.test("a new store on the same directory continues after a restart", async () => {
  const { stateDir, key, approval } = await setup();
  const restarted = new ApprovalStore({ stateDir, signingKey: key });
  assert.deepEqual((await restarted.list({ state: "pending" })).map((a) => a.id), [approval.id]);
  assert.equal((await restarted.approve(approval.id, "token:bob", { now: later(1) })).ok, true);
  const again = new ApprovalStore({ stateDir });
  assert.equal((await again.consume(approval.id, { ...call, now: later(2) })).ok, true);
  assert.deepEqual(await again.list({ state: "pending" }), []);
});

Deno.test("get() refuses malformed ids and corrupt files say which file", async () => {
  const { stateDir, store, approval } = await setup();
  assert.equal(await store.get("../../etc/passwd"), undefined);
  await Deno.writeTextFile(`${stateDir}/approvals/${approval.id}.json`, `{"version":1,"id":"x"}`);
  await assert.rejects(() => store.get(approval.id), ApprovalStoreError);
  await assert.rejects(
    () => store.get(approval.id),
    /Cannot read approval file .*\.json: expected a valid approval record/,
  );
});

Deno.test("a grant verifies with the gateway public key and nothing else", async () => {
  const { store, key, approval } = await setup();
  const approved = await store.approve(approval.id, "token:bob", { now: later(1) });
  const grant = approved.ok ? approved.approval.grant! : "";
  const binding = await computeBinding(call);
  const good = await verifyGrant(grant, key.publicKey, { binding, now: later(2) });
  assert.deepEqual(good.ok && [good.grant.approval_id, good.grant.approver], [
    approval.id,
    "token:bob",
  ]);
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(key.publicKey)), kid: "k1" }] });
  assert.equal((await verifyGrant(grant, jwks, { binding, now: later(2) })).ok, true);
  const stranger = await keyPair();
  const wrongKey = await verifyGrant(grant, stranger.publicKey, { binding, now: later(2) });
  assert.match(!wrongKey.ok ? wrongKey.reason : "", /signature does not verify/);
  const other = await computeBinding({ ...call, args: { unit: "sshd.service" } });
  const wrongCall = await verifyGrant(grant, key.publicKey, { binding: other, now: later(2) });
  assert.match(!wrongCall.ok ? wrongCall.reason : "", /granted for a different call/);
  const expired = await verifyGrant(grant, key.publicKey, { binding, now: later(16) });
  assert.match(!expired.ok ? expired.reason : "", /has expired/);
});

Deno.test("grants signed with the gateway key verify on a gateway sharing its state", async () => {
  const stateDir = await Deno.makeTempDir();
  const gatewayKey = await loadOrCreateGatewayKey(stateDir);
  const store = new ApprovalStore({ stateDir, signingKey: gatewayKey });
  const { approval } = await store.request({ ...call, rule: "restarts", summary: "restart" }, {
    now: T0,
  });
  const approved = await store.approve(approval.id, "token:bob", { now: later(1) });
  const grant = approved.ok ? approved.approval.grant! : "";
  assert.deepEqual(decodeProtectedHeader(grant), {
    alg: "EdDSA",
    kid: gatewayKey.kid,
    typ: "tailops-approval+jwt",
  });
  const peerKey = await loadOrCreateGatewayKey(stateDir);
  const jwks = createLocalJWKSet({ keys: [...peerKey.publicJwks] });
  const verified = await verifyGrant(grant, jwks, { binding: approval.binding, now: later(2) });
  assert.equal(verified.ok, true);
});

Deno.test("a second gateway redeems a grant once without the first gateway's store", async () => {
  const { store, key, approval } = await setup();
  const approved = await store.approve(approval.id, "token:bob", { now: later(1) });
  const grant = approved.ok ? approved.approval.grant! : "";
  const second = new ApprovalStore({ stateDir: await Deno.makeTempDir() });
  const input = { ...call, publicKey: key.publicKey, now: later(2) };
  const first = await second.redeemGrant(grant, input);
  assert.equal(first.ok && first.audit.event, "approval_used");
  assert.equal(first.ok && first.audit.rule, "restarts");
  const replay = await second.redeemGrant(grant, input);
  assert.equal(!replay.ok && replay.code, "already_used");
  const changed = await second.redeemGrant(grant, { ...input, args: { unit: "sshd.service" } });
  assert.equal(!changed.ok && changed.code, "bad_grant");
});

Deno.test("notifyWebhook() signs the body with HMAC-SHA256 and never throws", async () => {
  let seen: Headers | undefined;
  let body = "";
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    seen = new Headers(request.headers);
    body = await request.text();
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/hook`;
  try {
    const result = await notifyWebhook(url, "s3cret", { event: "approval_requested", id: "x" }, {
      now: T0,
    });
    assert.deepEqual(result, { ok: true, status: 200 });
    const timestamp = seen!.get("x-tailops-timestamp")!;
    assert.equal(timestamp, String(T0.getTime() / 1000));
    assert.equal(body, `{"event":"approval_requested","id":"x"}`);
    const key = await crypto.subtle.importKey(
      "raw",
      new TextEncoder().encode("s3cret"),
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    );
    const mac = new Uint8Array(
      await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${timestamp}.${body}`)),
    );
    const hex = Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(seen!.get("x-tailops-signature"), `sha256=${hex}`);
  } finally {
    await server.shutdown();
  }
  const refused = await notifyWebhook(url, "s3cret", {});
  assert.equal(refused.ok, false);
  const hanging = await notifyWebhook("http://127.0.0.1:9/hook", "s", {}, {
    timeoutMs: 50,
    fetch: (_input, init) =>
      new Promise((_resolve, reject) =>
        init?.signal?.addEventListener("abort", () => reject(init.signal!.reason))
      ),
  });
  assert.deepEqual(hanging, { ok: false, reason: "The webhook did not answer within 50 ms" });
  const failing = await notifyWebhook(url, "s", {}, {
    fetch: () => Promise.resolve(new Response("no", { status: 500 })),
  });
  assert.deepEqual(failing, {
    ok: false,
    status: 500,
    reason: "The webhook answered 500: expected a 2xx status",
  });
});
