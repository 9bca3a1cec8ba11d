import assert from "node:assert/strict";
import { holdsOn } from "../../src/gate/identity.ts";
import { generateKeyPair, SignJWT } from "jose";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import type { AuthOutcome } from "../../src/auth/types.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { startIssuer, type TestIssuer } from "./_issuer.ts";
import { LOOPBACK, mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

const NOW = Date.UTC(2026, 10, 24, 12, 0, 0);
const SEC = NOW / 1000;

const identities = identitiesSchema.parse({
  roles: {
    viewer: { scopes: ["system:read"] },
    operator: { scopes: ["system:read", "system:control"], targets: ["tag:web"] },
  },
  bindings: [
    { oidc_email: "*@example.com", roles: ["viewer"] },
    { oidc_group: "sre", roles: ["operator"] },
  ],
});

async function setup(issuer: TestIssuer) {
  const auth = authConfigSchema.parse({ resource: RESOURCE, oidc: [{ issuer: issuer.issuer }] });
  return await createAuthenticator({ auth, identities }, {
    stateDir: await tempStateDir(),
    now: () => NOW,
    jwksCooldownMs: 0,
  });
}

const good = (issuer: TestIssuer, extra: Record<string, unknown> = {}) => ({
  iss: issuer.issuer,
  aud: RESOURCE,
  sub: "user-1",
  email: "alice@example.com",
  groups: ["sre"],
  iat: SEC - 10,
  exp: SEC + 300,
  ...extra,
});

function assertRefused(outcome: AuthOutcome, status: 401 | 403, error: string, reason?: RegExp) {
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.status, status);
  assert.equal(outcome.body.error, error);
  const header = outcome.headers["WWW-Authenticate"];
  assert.match(header, new RegExp(`^Bearer error="${error}"`));
  assert.match(
    header,
    /resource_metadata="http:\/\/127\.0\.0\.1:8080\/\.well-known\/oauth-protected-resource\/mcp"/,
  );
  assert.match(header, /scope="[a-z: ]+"/);
  if (reason) assert.match(outcome.body.error_description, reason);
}

Deno.test("OIDC: a valid access token maps to the bound roles' scopes and targets", async () => {
  const issuer = await startIssuer();
  try {
    const auth = await setup(issuer);
    const outcome = await auth.authenticate(mcpRequest(await issuer.sign(good(issuer))), LOOPBACK);
    assert.equal(outcome.ok, true);
    if (!outcome.ok) return;
    assert.equal(outcome.identity.kind, "oidc");
    assert.equal(outcome.identity.subject, `oidc:${issuer.issuer}#user-1`);
    assert.deepEqual([...outcome.identity.scopes].sort(), ["system:control", "system:read"]);
    const web = { id: "w", tags: ["web"], groups: [] };
    const db = { id: "d", tags: [], groups: [] };
    assert.equal(holdsOn(outcome.identity, "system:read", db), true, "viewer reads everywhere");
    assert.equal(holdsOn(outcome.identity, "system:control", web), true);
    assert.equal(
      holdsOn(outcome.identity, "system:control", db),
      false,
      "operator only on tag:web",
    );
    assert.deepEqual(outcome.principal, {
      kind: "oidc",
      issuer: issuer.issuer,
      sub: "user-1",
      exp: SEC + 300,
      via: "jwt",
      email: "alice@example.com",
      groups: ["sre"],
    });
  } finally {
    await issuer.close();
  }
});

Deno.test("OIDC: each attack is refused with 401 invalid_token", async () => {
  const issuer = await startIssuer();
  try {
    const auth = await setup(issuer);
    const check = async (token: string, reason: RegExp) =>
      assertRefused(
        await auth.authenticate(mcpRequest(token), LOOPBACK),
        401,
        "invalid_token",
        reason,
      );
    await check(await issuer.sign(good(issuer, { aud: "http://other/mcp" })), /"aud"/);
    await check(await issuer.sign(good(issuer, { aud: undefined })), /"aud"/);
    await check(await issuer.sign(good(issuer, { exp: SEC - 61 })), /unexpired/);
    await check(await issuer.sign(good(issuer, { exp: undefined })), /"exp"/);
    await check(await issuer.sign(good(issuer, { nbf: SEC + 61 })), /"nbf"/);
    await check(await issuer.sign(good(issuer, { iss: "http://127.0.0.1:1" })), /not trusted/);
    await check(await issuer.sign(good(issuer), { typ: "id_token+jwt" }), /typ/);
    // Bad signature: a different key that claims the issuer's kid.
    const forger = await generateKeyPair("ES256");
    const forged = await new SignJWT(good(issuer))
      .setProtectedHeader({ alg: "ES256", kid: issuer.kid }).sign(forger.privateKey);
    await check(forged, /signature/);
    // Tampered payload with the original signature.
    const [h, , s] = (await issuer.sign(good(issuer))).split(".");
    const evil = btoa(JSON.stringify(good(issuer, { sub: "root" }))).replace(/=+$/, "")
      .replaceAll("+", "-").replaceAll("/", "_");
    await check(`${h}.${evil}.${s}`, /signature/);
    // alg: none.
    const none = btoa(JSON.stringify({ alg: "none", typ: "at+jwt" })).replace(/=+$/, "");
    const body = btoa(JSON.stringify(good(issuer))).replace(/=+$/, "");
    await check(`${none}.${body}.`, /expected algorithm/);
    // HS256 with the issuer's public key as the shared secret (key confusion).
    const hs = await new SignJWT(good(issuer)).setProtectedHeader({ alg: "HS256", kid: issuer.kid })
      .sign(new TextEncoder().encode("public-key-bytes-as-secret-000000"));
    await check(hs, /expected algorithm/);
  } finally {
    await issuer.close();
  }
});

Deno.test("OIDC: expiry within the 60 s skew is accepted", async () => {
  const issuer = await startIssuer();
  try {
    const auth = await setup(issuer);
    const token = await issuer.sign(good(issuer, { exp: SEC - 30, nbf: SEC + 30 }));
    assert.equal((await auth.authenticate(mcpRequest(token), LOOPBACK)).ok, true);
  } finally {
    await issuer.close();
  }
});

Deno.test("OIDC: a valid token bound to no role is refused with 403 insufficient_scope", async () => {
  const issuer = await startIssuer();
  try {
    const auth = await setup(issuer);
    const token = await issuer.sign(good(issuer, { email: "eve@elsewhere.org", groups: [] }));
    assertRefused(
      await auth.authenticate(mcpRequest(token), LOOPBACK),
      403,
      "insufficient_scope",
      /holds no scopes/,
    );
  } finally {
    await issuer.close();
  }
});

Deno.test("OIDC: after the issuer rotates its key the new kid is accepted", async () => {
  const issuer = await startIssuer();
  try {
    const auth = await setup(issuer);
    const before = await issuer.sign(good(issuer));
    assert.equal((await auth.authenticate(mcpRequest(before), LOOPBACK)).ok, true);
    const fetches = issuer.hits.get("/jwks");
    await issuer.rotate();
    const after = await issuer.sign(good(issuer));
    assert.equal((await auth.authenticate(mcpRequest(after), LOOPBACK)).ok, true);
    assert.equal(issuer.hits.get("/jwks"), fetches! + 1);
    assert.equal(issuer.hits.get("/.well-known/openid-configuration"), 1);
    // The retired key is gone from the issuer's JWKS, so its tokens no longer verify.
    assertRefused(await auth.authenticate(mcpRequest(before), LOOPBACK), 401, "invalid_token");
  } finally {
    await issuer.close();
  }
});
