import assert from "node:assert/strict";
import { createLocalJWKSet, SignJWT } from "jose";
import { loadOrCreateGatewayKey } from "../../src/auth/gateway_key.ts";
import { requestStateSigner } from "../../src/mcp/request_state.ts";

const STATE = { subject: "token:alice", tool: "service_control", approvalId: "apr_1" };
const CALL = { subject: "token:alice", method: "tools/call" };

async function signer(now = () => new Date()) {
  const dir = await Deno.makeTempDir({ prefix: "tailops-state-" });
  const key = await loadOrCreateGatewayKey(dir);
  await Deno.remove(dir, { recursive: true });
  return {
    key,
    signer: requestStateSigner(key, createLocalJWKSet({ keys: [...key.publicJwks] }), now),
  };
}

Deno.test("a request state round-trips for its subject and method", async () => {
  const { signer: s } = await signer();
  const jws = await s.mint(STATE, new Date(Date.now() + 60_000));
  assert.deepEqual(await s.verify(jws, CALL), STATE);
});

Deno.test("a request state is refused for another subject, another method, or after expiry", async () => {
  let now = new Date();
  const { signer: s } = await signer(() => now);
  const jws = await s.mint(STATE, new Date(now.getTime() + 60_000));
  await assert.rejects(
    s.verify(jws, { ...CALL, subject: "token:mallory" }),
    /minted for token:alice/,
  );
  await assert.rejects(s.verify(jws, { ...CALL, method: "prompts/get" }), /tools\/call/);
  now = new Date(now.getTime() + 120_000);
  await assert.rejects(s.verify(jws, CALL));
});

Deno.test("a request state is refused when another key signed it or its payload was changed", async () => {
  const { signer: ours } = await signer();
  const { signer: theirs } = await signer();
  const foreign = await theirs.mint(STATE, new Date(Date.now() + 60_000));
  await assert.rejects(ours.verify(foreign, CALL));
  const jws = await ours.mint(STATE, new Date(Date.now() + 60_000));
  const [header, , signature] = jws.split(".");
  const payload = btoa(JSON.stringify({ ...STATE, sub: "token:alice", approval_id: "apr_2" }))
    .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  await assert.rejects(ours.verify(`${header}.${payload}.${signature}`, CALL));
});

Deno.test("an access token or grant signed with the same key is not a request state", async () => {
  const { key, signer: s } = await signer();
  const token = await new SignJWT({ method: "tools/call", tool: "x", approval_id: "apr_1" })
    .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
    .setSubject("token:alice")
    .setExpirationTime("1h")
    .sign(key.privateKey);
  await assert.rejects(s.verify(token, CALL));
});
