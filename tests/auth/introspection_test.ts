import assert from "node:assert/strict";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { startIssuer, type TestIssuer } from "./_issuer.ts";
import { LOOPBACK, mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

const START = Date.UTC(2026, 10, 24, 12, 0, 0);

async function setup(issuer: TestIssuer, clock: { now: number }, cacheSeconds = 120) {
  const auth = authConfigSchema.parse({
    resource: RESOURCE,
    oidc: [{
      issuer: issuer.issuer,
      introspection: {
        client_id: issuer.client.id,
        client_secret: "${INTROSPECTION_SECRET}",
        cache_seconds: cacheSeconds,
      },
    }],
  });
  const identities = identitiesSchema.parse({
    roles: { viewer: { scopes: ["system:read"] } },
    bindings: [{ oidc_subject: "svc-*", issuer: issuer.issuer, roles: "viewer" }],
  });
  return await createAuthenticator({ auth, identities }, {
    stateDir: await tempStateDir(),
    now: () => clock.now,
    secrets: {
      env: (name) => name === "INTROSPECTION_SECRET" ? issuer.client.secret : undefined,
      readFile: () => Promise.reject(new Error("unused")),
    },
  });
}

const active = (issuer: TestIssuer, exp: number, extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: issuer.issuer,
  sub: "svc-backup",
  aud: [RESOURCE],
  exp,
  ...extra,
});

Deno.test("introspection: an active opaque token maps to its bound role", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(issuer, clock);
    issuer.introspection.set("opaque-ok", active(issuer, START / 1000 + 3600));
    const outcome = await auth.authenticate(mcpRequest("opaque-ok"), LOOPBACK);
    assert.equal(outcome.ok, true);
    if (!outcome.ok) return;
    assert.equal(outcome.principal.kind === "oidc" && outcome.principal.via, "introspection");
    assert.deepEqual([...outcome.identity.scopes], ["system:read"]);
  } finally {
    await issuer.close();
  }
});

Deno.test("introspection: inactive, wrong-audience and expired answers are refused", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(issuer, clock);
    const sec = START / 1000;
    issuer.introspection.set("wrong-aud", active(issuer, sec + 3600, { aud: "http://x/mcp" }));
    issuer.introspection.set("expired", active(issuer, sec - 120));
    issuer.introspection.set("no-exp", active(issuer, sec, { exp: undefined }));
    const cases: [string, RegExp][] = [
      ["never-issued", /inactive/],
      ["wrong-aud", /expected audience/],
      ["expired", /unexpired/],
      ["no-exp", /expected an exp/],
    ];
    for (const [token, reason] of cases) {
      const outcome = await auth.authenticate(mcpRequest(token), LOOPBACK);
      assert.equal(outcome.ok, false, token);
      if (outcome.ok) continue;
      assert.equal(outcome.status, 401);
      assert.match(outcome.headers["WWW-Authenticate"], /^Bearer error="invalid_token"/);
      assert.match(outcome.body.error_description, reason);
    }
  } finally {
    await issuer.close();
  }
});

Deno.test("introspection: answers are cached no longer than cache_seconds", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(issuer, clock, 60);
    issuer.introspection.set("cached", active(issuer, START / 1000 + 3600));
    await auth.authenticate(mcpRequest("cached"), LOOPBACK);
    await auth.authenticate(mcpRequest("cached"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 1);
    issuer.introspection.set("cached", { active: false });
    clock.now += 59_000;
    assert.equal((await auth.authenticate(mcpRequest("cached"), LOOPBACK)).ok, true);
    clock.now += 2_000;
    assert.equal((await auth.authenticate(mcpRequest("cached"), LOOPBACK)).ok, false);
    assert.equal(issuer.hits.get("/introspect"), 2);
  } finally {
    await issuer.close();
  }
});

Deno.test("introspection: answers are cached no longer than the token lives", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(issuer, clock, 300);
    issuer.introspection.set("short", active(issuer, START / 1000 + 10));
    assert.equal((await auth.authenticate(mcpRequest("short"), LOOPBACK)).ok, true);
    await auth.authenticate(mcpRequest("short"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 1);
    clock.now += 11_000;
    // Past exp the cached answer is dropped and the issuer is asked again.
    await auth.authenticate(mcpRequest("short"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 2);
    clock.now += 60_000;
    const outcome = await auth.authenticate(mcpRequest("short"), LOOPBACK);
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.match(outcome.body.error_description, /unexpired/);
  } finally {
    await issuer.close();
  }
});
