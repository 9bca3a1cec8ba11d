import { holdsOn } from "../../src/gate/identity.ts";
import assert from "node:assert/strict";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { rotateGatewayKey } from "../../src/auth/gateway_key.ts";
import { listTokens, mintToken, revokeToken } from "../../src/auth/gateway_tokens.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { LOOPBACK, mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

const START = Date.UTC(2026, 10, 24, 12, 0, 0);
const identities = identitiesSchema.parse({
  roles: { ci: { scopes: ["system:read", "container:read"], targets: ["tag:ci"] } },
});

async function setup(clock: { now: number }) {
  const stateDir = await tempStateDir();
  const auth = authConfigSchema.parse({ resource: RESOURCE });
  const authenticator = await createAuthenticator({ auth, identities }, {
    stateDir,
    now: () => clock.now,
  });
  const mint = (ttlSeconds = 3600, resource = RESOURCE, role = "ci") =>
    mintToken(stateDir, { sub: "ci-bot", role, ttlSeconds, resource, now: () => clock.now });
  return { stateDir, authenticator, mint };
}

Deno.test("gateway tokens: mint, verify, revoke, then refused", async () => {
  const clock = { now: START };
  const { stateDir, authenticator, mint } = await setup(clock);
  const minted = await mint();
  assert.equal(minted.token.split(".").length, 3);
  const outcome = await authenticator.authenticate(mcpRequest(minted.token), LOOPBACK);
  assert.equal(outcome.ok, true);
  if (!outcome.ok) return;
  assert.equal(outcome.identity.subject, "token:ci-bot");
  assert.deepEqual([...outcome.identity.scopes], ["system:read", "container:read"]);
  assert.equal(
    holdsOn(outcome.identity, "system:read", { id: "a", tags: ["ci"], groups: [] }),
    true,
  );
  assert.equal(holdsOn(outcome.identity, "system:read", { id: "b", tags: [], groups: [] }), false);

  assert.deepEqual(await revokeToken(stateDir, minted.jti), { known: true });
  const refused = await authenticator.authenticate(mcpRequest(minted.token), LOOPBACK);
  assert.equal(refused.ok, false);
  if (refused.ok) return;
  assert.equal(refused.status, 401);
  assert.match(refused.body.error_description, /revoked/);

  const listed = await listTokens(stateDir, { now: () => clock.now });
  assert.equal(listed.length, 1);
  assert.equal(listed[0].revoked, true);
  assert.equal("token" in listed[0], false);
  const ledger = await Deno.readTextFile(`${stateDir}/tokens/ledger.jsonl`);
  assert.equal(ledger.includes(minted.token), false);
});

Deno.test("gateway tokens: expired, foreign-audience and unknown-role tokens are refused", async () => {
  const clock = { now: START };
  const { authenticator, mint } = await setup(clock);
  const short = await mint(60);
  const foreign = await mint(3600, "https://other.example/mcp");
  const noRole = await mint(3600, RESOURCE, "nobody");
  clock.now += 121_000;
  const expired = await authenticator.authenticate(mcpRequest(short.token), LOOPBACK);
  assert.equal(!expired.ok && expired.status, 401);
  const wrongAud = await authenticator.authenticate(mcpRequest(foreign.token), LOOPBACK);
  assert.equal(!wrongAud.ok && wrongAud.body.error_description.includes('"iss"'), true);
  const forbidden = await authenticator.authenticate(mcpRequest(noRole.token), LOOPBACK);
  assert.equal(!forbidden.ok && forbidden.status, 403);
});

Deno.test("gateway tokens: lifetime is mandatory and capped", async () => {
  const stateDir = await tempStateDir();
  const base = { sub: "x", role: "ci", resource: RESOURCE };
  await assert.rejects(mintToken(stateDir, { ...base, ttlSeconds: 0 }), RangeError);
  await assert.rejects(
    mintToken(stateDir, { ...base, ttlSeconds: 31 * 24 * 3600 }),
    /expected 1 to 2592000 seconds, found 2678400/,
  );
  await assert.rejects(
    mintToken(stateDir, { ...base, ttlSeconds: 7200, maxTtlSeconds: 3600 }),
    RangeError,
  );
  await assert.rejects(mintToken(stateDir, { ...base, sub: "admin", ttlSeconds: 60 }), /reserved/);
});

Deno.test("gateway tokens: a token signed before a key rotation still verifies", async () => {
  const clock = { now: START };
  const { stateDir, authenticator, mint } = await setup(clock);
  const before = await mint();
  await rotateGatewayKey(stateDir);
  const after = await mint();
  assert.equal((await authenticator.authenticate(mcpRequest(after.token), LOOPBACK)).ok, true);
  assert.equal((await authenticator.authenticate(mcpRequest(before.token), LOOPBACK)).ok, true);
});
