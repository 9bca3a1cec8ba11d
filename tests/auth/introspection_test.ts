import assert from "node:assert/strict";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { ensureAdminToken } from "../../src/auth/bootstrap_token.ts";
import { matchesIssuerFormat } from "../../src/auth/introspection.ts";
import { startIssuer, type TestIssuer } from "./_issuer.ts";
import { LOOPBACK, mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

const START = Date.UTC(2026, 10, 24, 12, 0, 0);

async function setup(
  issuer: TestIssuer,
  clock: { now: number },
  cacheSeconds = 120,
  options: { stateDir?: string; more?: Record<string, unknown>[] } = {},
) {
  const auth = authConfigSchema.parse({
    resource: RESOURCE,
    oidc: [{
      issuer: issuer.issuer,
      introspection: {
        token_prefix: "opq_",
        client_id: issuer.client.id,
        client_secret: "${INTROSPECTION_SECRET}",
        cache_seconds: cacheSeconds,
      },
    }, ...(options.more ?? [])],
  });
  const identities = identitiesSchema.parse({
    roles: { viewer: { scopes: ["system:read"] } },
    bindings: [{ oidc_subject: "svc-*", issuer: issuer.issuer, roles: "viewer" }],
  });
  return await createAuthenticator({ auth, identities }, {
    stateDir: options.stateDir ?? await tempStateDir(),
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
    issuer.introspection.set("opq_opaque-ok", active(issuer, START / 1000 + 3600));
    const outcome = await auth.authenticate(mcpRequest("opq_opaque-ok"), LOOPBACK);
    assert.equal(outcome.ok, true);
    if (!outcome.ok) return;
    assert.equal(outcome.principal.kind === "oidc" && outcome.principal.via, "introspection");
    assert.deepEqual([...outcome.identity.scopes], ["system:read"]);
  } finally {
    await issuer.close();
  }
});

Deno.test("introspection: inactive, wrong-audience, expired, refresh and key-bound answers are refused", async () => {
  const issuer = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(issuer, clock);
    const sec = START / 1000;
    issuer.introspection.set("opq_wrong-aud", active(issuer, sec + 3600, { aud: "http://x/mcp" }));
    issuer.introspection.set("opq_expired", active(issuer, sec - 120));
    issuer.introspection.set("opq_no-exp", active(issuer, sec, { exp: undefined }));
    // Refresh tokens some issuers report active (Okta, Keycloak, Hydra), and a key-bound token.
    const later = sec + 3600;
    issuer.introspection.set("opq_okta-rt", active(issuer, later, { token_type: "refresh_token" }));
    issuer.introspection.set("opq_keycloak-rt", active(issuer, later, { typ: "Refresh" }));
    issuer.introspection.set("opq_hydra-rt", active(issuer, later, { token_use: "refresh_token" }));
    issuer.introspection.set("opq_dpop", active(issuer, later, { cnf: { jkt: "abc" } }));
    const cases: [string, RegExp][] = [
      ["opq_never-issued", /inactive/],
      ["opq_wrong-aud", /expected audience/],
      ["opq_expired", /unexpired/],
      ["opq_no-exp", /expected an exp/],
      ["opq_okta-rt", /found token_type "refresh_token"/],
      ["opq_keycloak-rt", /found typ "Refresh"/],
      ["opq_hydra-rt", /found token_use "refresh_token"/],
      ["opq_dpop", /bound to a client key/],
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
    issuer.introspection.set("opq_cached", active(issuer, START / 1000 + 3600));
    await auth.authenticate(mcpRequest("opq_cached"), LOOPBACK);
    await auth.authenticate(mcpRequest("opq_cached"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 1);
    issuer.introspection.set("opq_cached", { active: false });
    clock.now += 59_000;
    assert.equal((await auth.authenticate(mcpRequest("opq_cached"), LOOPBACK)).ok, true);
    clock.now += 2_000;
    assert.equal((await auth.authenticate(mcpRequest("opq_cached"), LOOPBACK)).ok, false);
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
    issuer.introspection.set("opq_short", active(issuer, START / 1000 + 10));
    assert.equal((await auth.authenticate(mcpRequest("opq_short"), LOOPBACK)).ok, true);
    await auth.authenticate(mcpRequest("opq_short"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 1);
    clock.now += 11_000;
    // Past exp the cached answer is dropped and the issuer is asked again.
    await auth.authenticate(mcpRequest("opq_short"), LOOPBACK);
    assert.equal(issuer.hits.get("/introspect"), 2);
    clock.now += 60_000;
    const outcome = await auth.authenticate(mcpRequest("opq_short"), LOOPBACK);
    assert.equal(outcome.ok, false);
    if (!outcome.ok) assert.match(outcome.body.error_description, /unexpired/);
  } finally {
    await issuer.close();
  }
});

/** Ways a caller gets the gateway's own admin token wrong. */
function mistypings(token: string): string[] {
  const flip = (i: number) =>
    token.slice(0, i) + (token[i] === "A" ? "B" : "A") + token.slice(i + 1);
  return [
    flip(0),
    flip(20),
    flip(token.length - 1),
    token.slice(0, -1),
    token.slice(1),
    `${token}x`,
    `${token}=`,
    token.toUpperCase(),
  ];
}

Deno.test("introspection: only tokens in the issuer's format reach its endpoint", async () => {
  const issuer = await startIssuer();
  try {
    const stateDir = await tempStateDir();
    await ensureAdminToken(stateDir);
    const admin = (await Deno.readTextFile(`${stateDir}/admin.token`)).trim();
    const clock = { now: START };
    const auth = await setup(issuer, clock, 120, { stateDir });
    const jwt = await issuer.sign({ sub: "svc-x", aud: RESOURCE, exp: START / 1000 + 60 });
    const [header, payload, signature] = jwt.split(".");
    const refused = [
      ...mistypings(admin),
      // A gateway or OIDC JWT cut or glued wrong is still no opaque token.
      `${header}.${payload}`,
      `${header}.${payload}.${signature}.x`,
      `${header}${payload}`,
      `opq_${header}.${payload}`,
      "eyJhbGciOiJFZERTQSJ9",
      // Another issuer's tokens, and ours missing its body.
      "ory_at_abcdefghijklmnop",
      "gho_abcdefghijklmnopqrstuvwxyz0123456789",
      "opq_",
      "OPQ_uppercase-prefix",
      "xopq_shifted",
    ];
    for (const token of refused) {
      const outcome = await auth.authenticate(mcpRequest(token), LOOPBACK);
      assert.equal(outcome.ok, false, token);
    }
    assert.equal(issuer.hits.get("/introspect") ?? 0, 0, "nothing was sent for introspection");
    assert.equal(issuer.hits.get("/.well-known/openid-configuration") ?? 0, 0);
    // The admin token itself still works, and a token in the format is asked about once.
    assert.equal((await auth.authenticate(mcpRequest(admin), LOOPBACK)).ok, true);
    issuer.introspection.set("opq_fine", active(issuer, START / 1000 + 3600));
    assert.equal((await auth.authenticate(mcpRequest("opq_fine"), LOOPBACK)).ok, true);
    assert.equal(issuer.hits.get("/introspect"), 1);
  } finally {
    await issuer.close();
  }
});

Deno.test("introspection: a token goes only to the issuer whose prefix it carries", async () => {
  const first = await startIssuer();
  const second = await startIssuer();
  try {
    const clock = { now: START };
    const auth = await setup(first, clock, 120, {
      more: [{
        issuer: second.issuer,
        introspection: {
          token_prefix: "two_",
          token_length: { min: 12, max: 16 },
          client_id: second.client.id,
          client_secret: "${INTROSPECTION_SECRET}",
        },
      }],
    });
    second.introspection.set("two_0123456789", {
      ...active(second, START / 1000 + 3600),
      iss: second.issuer,
    });
    for (const token of ["two_0123456789", "two_short", "two_0123456789abcdefgh"]) {
      await auth.authenticate(mcpRequest(token), LOOPBACK);
    }
    await auth.authenticate(mcpRequest("opq_first-only"), LOOPBACK);
    assert.equal(first.hits.get("/introspect"), 1, "only opq_ tokens reach the first issuer");
    assert.equal(second.hits.get("/introspect"), 1, "only two_ tokens of 12-16 characters");
  } finally {
    await first.close();
    await second.close();
  }
});

Deno.test("introspection config: token_prefix is required and cannot be a JWT's start", () => {
  const base = { issuer: "https://idp.example.com", client_id: "x", client_secret: "${S}" };
  const parse = (introspection: Record<string, unknown>) =>
    authConfigSchema.safeParse({
      oidc: [{ issuer: base.issuer, introspection: { ...introspection } }],
    });
  const { issuer: _, ...fields } = base;
  const missing = parse(fields);
  assert.equal(missing.success, false);
  assert.match(JSON.stringify(missing.error?.issues), /expected token_prefix/);
  for (const token_prefix of ["eyJh", "ab", "has.dot", "sp ace", "x".repeat(65)]) {
    assert.equal(parse({ ...fields, token_prefix }).success, false, token_prefix);
  }
  const bounds = parse({ ...fields, token_prefix: "abcd", token_length: { min: 40, max: 20 } });
  assert.equal(bounds.success, false);
  const ok = parse({ ...fields, token_prefix: "ory_at_" });
  assert.equal(ok.success, true);
  if (ok.success) {
    const issuer = ok.data.oidc[0];
    assert.equal(matchesIssuerFormat("ory_at_x1", issuer), true);
    assert.equal(matchesIssuerFormat("ory_at_", issuer), false);
    assert.equal(matchesIssuerFormat("ory_at_x.y", issuer), false);
  }
});

Deno.test("introspection config: token_format tsidp matches exactly 32 lowercase hex characters and replaces token_prefix", () => {
  const fields = { client_id: "x", client_secret: "${S}" };
  const parse = (introspection: Record<string, unknown>) =>
    authConfigSchema.safeParse({
      oidc: [{ issuer: "https://idp.tail1234.ts.net", introspection }],
    });
  const ok = parse({ ...fields, token_format: "tsidp" });
  assert.equal(ok.success, true);
  if (ok.success) {
    const issuer = ok.data.oidc[0];
    const token = "0123456789abcdef0123456789abcdef";
    assert.equal(matchesIssuerFormat(token, issuer), true);
    for (
      const other of [
        token.slice(1),
        `${token}0`,
        token.toUpperCase(),
        `${token.slice(0, 31)}g`,
        ` ${token.slice(1)}`,
        `${token.slice(0, 16)}.${token.slice(17)}`,
        "eyJ" + token.slice(3),
        // The bootstrap admin token's shape: 43 base64url characters.
        "A".repeat(43),
      ]
    ) {
      assert.equal(matchesIssuerFormat(other, issuer), false, other);
    }
  }
  const both = parse({ ...fields, token_format: "tsidp", token_prefix: "idp_at_" });
  assert.equal(both.success, false);
  assert.match(JSON.stringify(both.error?.issues), /exactly one/);
  assert.equal(
    parse({ ...fields, token_format: "tsidp", token_length: { min: 8, max: 9 } }).success,
    false,
  );
  const unknown = parse({ ...fields, token_format: "any" });
  assert.equal(unknown.success, false);
  assert.match(
    JSON.stringify(unknown.error?.issues),
    /Invalid token_format \\"any\\": expected one of tsidp/,
  );
});
