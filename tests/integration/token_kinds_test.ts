/**
 * Only access tokens open the gateway. Tokens a trusted issuer really signed,
 * unexpired and naming this gateway in `aud`, are still refused when they are
 * another kind of token: ID tokens (also with their `typ` changed), logout
 * and refresh tokens, key-bound tokens, tokens with a claim or header
 * parameter written twice. Each is sent over Streamable HTTP to the real
 * gateway, refused with 401 and one sentence, and counted in the audit log as
 * the other refused credentials are.
 *
 * @module
 */
import assert from "node:assert/strict";
import { startIssuer, type TestIssuer } from "../auth/_issuer.ts";
import { startTsidp, TSIDP_USER } from "../auth/_tsidp.ts";
import { authGateway, postInitialize, ROLES_YAML } from "./_auth_gateway.ts";
import { parsePolicy } from "../../src/config/load.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

const SEC = () => Math.floor(Date.now() / 1000);

/** A policy trusting each issuer with its own `jwt` setting, email bound to the viewer role. */
function policy(issuers: { issuer: string; extra?: string[] }[]): string {
  return [
    "version: 1",
    "rules:",
    "  - id: observe",
    "    tiers: [observe]",
    "identities:",
    ROLES_YAML,
    "  bindings:",
    '    - { oidc_email: "*@example.com", roles: [viewer] }',
    "auth:",
    "  oidc:",
    ...issuers.flatMap(({ issuer, extra = [] }) => [
      `    - issuer: "${issuer}"`,
      ...extra.map((line) => `      ${line}`),
    ]),
  ].join("\n");
}

/** A raw `initialize` POST with a bearer token: status and the refusal sentence. */
async function initialize(url: URL, token: string) {
  const response = await postInitialize(url, { Authorization: `Bearer ${token}` });
  const text = await response.text();
  return {
    status: response.status,
    description: response.status === 401 ? JSON.parse(text).error_description : "",
    challenge: response.headers.get("www-authenticate"),
  };
}

const b64url = (text: string) =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/=+$/, "")
    .replaceAll("+", "-").replaceAll("/", "_");

/**
 * Signs header and claims written as JSON text, so a test can write what
 * jose never would: a member twice, escaped names.
 */
async function signRaw(issuer: TestIssuer, header: string, payload: string): Promise<string> {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = new Uint8Array(
    await crypto.subtle.sign(
      { name: "ECDSA", hash: "SHA-256" },
      issuer.privateKey(),
      new TextEncoder().encode(input),
    ),
  );
  const sig = btoa(String.fromCharCode(...signature)).replace(/=+$/, "").replaceAll("+", "-")
    .replaceAll("/", "_");
  return `${input}.${sig}`;
}

Deno.test("JWTs that are not access tokens are refused in every form, access tokens in every accepted form pass", async () => {
  const plain = await startIssuer();
  const strict = await startIssuer();
  const opaqueOnly = await startIssuer();
  try {
    await using gw = await authGateway(policy([
      { issuer: plain.issuer, extra: ["algorithms: [ES256]"] },
      { issuer: strict.issuer, extra: ["algorithms: [ES256]", "jwt: { typ: [at+jwt] }"] },
      { issuer: opaqueOnly.issuer, extra: ["algorithms: [ES256]", "jwt: false"] },
    ]));
    await gw.start();
    const resource = gw.url.href;
    const claims = (issuer: TestIssuer, extra: Record<string, unknown> = {}) => ({
      iss: issuer.issuer,
      aud: resource,
      sub: "user-1",
      email: "alice@example.com",
      client_id: "mcp-client",
      iat: SEC() - 10,
      exp: SEC() + 300,
      ...extra,
    });
    const sign = (issuer: TestIssuer, extra: Record<string, unknown>, header = {}) =>
      issuer.sign(claims(issuer, extra), header);

    // Access tokens as real providers write them pass: RFC 9068, Keycloak, Auth0, Entra, Okta.
    const accepted: [string, string][] = [
      ["RFC 9068 at+jwt", await sign(plain, {})],
      ["typ in upper case", await sign(plain, {}, { typ: "AT+JWT" })],
      ["typ with application/", await sign(plain, {}, { typ: "application/at+jwt" })],
      [
        "typ JWT (Keycloak, Entra)",
        await sign(plain, { typ: "Bearer", azp: "mcp" }, { typ: "JWT" }),
      ],
      ["no typ (Okta)", await sign(plain, { cid: "mcp-client" }, { typ: undefined })],
      [
        "Auth0: aud lists the API and userinfo",
        await sign(plain, {
          aud: [resource, "https://tenant.example/userinfo"],
          azp: "mcp-client",
        }),
      ],
      ["Cognito access token", await sign(plain, { token_use: "access" })],
      ["auth_time and acr (RFC 9068 §2.2.1)", await sign(plain, { auth_time: SEC(), acr: "1" })],
      ["strict issuer, at+jwt", await sign(strict, {})],
    ];
    for (const [form, token] of accepted) {
      const answer = await initialize(gw.url, token);
      assert.equal(answer.status, 200, `${form}: ${answer.description}`);
    }

    // Everything else is refused, each with one sentence naming what was found.
    const idToken = (issuer: TestIssuer, header: Record<string, unknown>, extra = {}) =>
      sign(issuer, {
        aud: ["mcp-client", resource],
        azp: "mcp-client",
        nonce: "n-0S6_WzA2Mj",
        client_id: undefined,
        ...extra,
      }, header);
    const refused: [string, string, RegExp][] = [
      ["an ID token", await idToken(plain, { typ: "JWT" }), /ID token \(it carries "nonce"\)/],
      [
        "an ID token with typ changed to at+jwt",
        await idToken(plain, { typ: "at+jwt" }),
        /ID token/,
      ],
      [
        "an ID token without nonce (tsidp's shape)",
        await idToken(plain, { typ: "JWT" }, { nonce: undefined }),
        /addressed to its own client "mcp-client" \(an ID token\)/,
      ],
      ["at+jwt with nonce", await sign(plain, { nonce: "x" }), /"nonce"/],
      ["at+jwt with at_hash", await sign(plain, { at_hash: "x" }), /"at_hash"/],
      ["at+jwt with c_hash", await sign(plain, { c_hash: "x" }), /"c_hash"/],
      ["at+jwt with s_hash", await sign(plain, { s_hash: "x" }), /"s_hash"/],
      ["typ id_token+jwt", await sign(plain, {}, { typ: "id_token+jwt" }), /typ "id_token\+jwt"/],
      ["typ logout+jwt", await sign(plain, {}, { typ: "logout+jwt" }), /typ "logout\+jwt"/],
      ["typ JOSE", await sign(plain, {}, { typ: "JOSE" }), /typ "JOSE"/],
      ["typ with a space", await sign(plain, {}, { typ: "at+jwt " }), /typ "at\+jwt "/],
      ["typ not a string", await sign(plain, {}, { typ: 1 }), /typ 1/],
      ["Keycloak ID token", await sign(plain, { typ: "ID" }), /typ "ID"/],
      ["Keycloak refresh token", await sign(plain, { typ: "Refresh" }), /typ "Refresh"/],
      ["Keycloak offline token", await sign(plain, { typ: "Offline" }), /typ "Offline"/],
      ["Cognito ID token", await sign(plain, { token_use: "id" }), /token_use "id"/],
      [
        "a refresh token by token_type",
        await sign(plain, { token_type: "refresh_token" }),
        /token_type/,
      ],
      [
        "a back-channel logout token",
        await sign(plain, {
          events: { "http://schemas.openid.net/event/backchannel-logout": {} },
        }),
        /logout or security event/,
      ],
      [
        "a DPoP-bound token sent as bearer",
        await sign(plain, { cnf: { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }),
        /bound to a client key/,
      ],
      ["JWT typ at a strict issuer", await sign(strict, {}, { typ: "JWT" }), /typ "JWT"/],
      ["no typ at a strict issuer", await sign(strict, {}, { typ: undefined }), /found no typ/],
      ["any JWT from a jwt: false issuer", await sign(opaqueOnly, {}), /\(jwt: false\)/],
      [
        "typ written twice",
        await signRaw(
          plain,
          `{"alg":"ES256","kid":"${plain.kid}","typ":"JWT","typ":"at+jwt"}`,
          JSON.stringify(claims(plain)),
        ),
        /"typ" twice/,
      ],
      [
        "typ written twice, once escaped",
        await signRaw(
          plain,
          `{"alg":"ES256","kid":"${plain.kid}","typ":"id_token+jwt","\\u0074yp":"at+jwt"}`,
          JSON.stringify(claims(plain)),
        ),
        /"typ" twice/,
      ],
      [
        "aud written twice",
        await signRaw(
          plain,
          `{"alg":"ES256","kid":"${plain.kid}","typ":"at+jwt"}`,
          `{"aud":"mcp-client",${JSON.stringify(claims(plain)).slice(1)}`,
        ),
        /"aud" twice/,
      ],
      [
        "nonce with an escaped name",
        await signRaw(
          plain,
          `{"alg":"ES256","kid":"${plain.kid}","typ":"at+jwt"}`,
          `{"\\u006eonce":"x",${JSON.stringify(claims(plain)).slice(1)}`,
        ),
        /"nonce"/,
      ],
    ];
    for (const [form, token, reason] of refused) {
      const answer = await initialize(gw.url, token);
      assert.equal(answer.status, 401, `${form} was accepted`);
      assert.match(answer.description, reason, form);
      assert.doesNotMatch(answer.description, /\n/, `${form}: one line`);
      assert.match(answer.challenge ?? "", /^Bearer error="invalid_token"/, form);
    }

    await gw.stop();
    const failed = (await gw.audit()).filter((line) => line.event === "auth_failed");
    const count = failed.reduce((n, line) => n + Number(line.detail?.count ?? 1), 0);
    assert.equal(count, refused.length, JSON.stringify(failed));
    assert.equal(failed[0].reason, "invalid_token");
    assert.match(String(failed[0].detail?.message), /^401: Invalid token: .*ID token/);
    const logged = JSON.stringify(failed);
    for (const [, token] of refused) assert.ok(!logged.includes(token), "no token is recorded");
  } finally {
    await plain.close();
    await strict.close();
    await opaqueOnly.close();
  }
});

Deno.test("tsidp's real ID token is refused even where the issuer's JWTs are allowed", async () => {
  await using tsidp = await startTsidp({ allowDcr: true, resources: [] });
  const rp = tsidp.addClient(["http://127.0.0.1:9/callback"]);
  await using gw = await authGateway(
    policy([{ issuer: tsidp.issuer, extra: ["algorithms: [RS256]", "jwt: { typ: [jwt] }"] }]),
  );
  tsidp.grant.resources.push(gw.url.href);
  await gw.start();
  // The code flow a relying party runs, with this gateway as resource (RFC 8707).
  const authorize = new URL(`${tsidp.issuer}/authorize`);
  authorize.search = new URLSearchParams({
    client_id: rp.id,
    redirect_uri: "http://127.0.0.1:9/callback",
    response_type: "code",
    scope: "openid email",
  }).toString();
  const redirect = await fetch(authorize, { redirect: "manual" });
  await redirect.body?.cancel();
  const code = new URL(redirect.headers.get("location") ?? "").searchParams.get("code") ?? "";
  const issued = await (await fetch(`${tsidp.issuer}/token`, {
    method: "POST",
    headers: { Authorization: `Basic ${btoa(`${rp.id}:${rp.secret}`)}` },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      redirect_uri: "http://127.0.0.1:9/callback",
      resource: gw.url.href,
    }),
  })).json();
  const idClaims = JSON.parse(
    atob(issued.id_token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")),
  );
  assert.ok(idClaims.aud.includes(gw.url.href), "tsidp's ID token names this gateway in aud");
  assert.equal(idClaims.sub, String(TSIDP_USER.uid));
  const answer = await initialize(gw.url, issued.id_token);
  assert.equal(answer.status, 401);
  assert.match(answer.description, /addressed to its own client .* \(an ID token\)/);
});

Deno.test("a jwt setting outside the vocabulary is refused at load in one line", () => {
  const load = (jwt: string) =>
    parsePolicy(
      `${policy([{ issuer: "http://127.0.0.1:1", extra: [`jwt: ${jwt}`] }])}\n`,
      "p.yaml",
    );
  assert.throws(
    () => load("{ typ: [id_token+jwt] }"),
    /p\.yaml:\d+:\d+: Invalid jwt\.typ "id_token\+jwt": expected one of at\+jwt, jwt/,
  );
  assert.throws(() => load("{ typ: [] }"), /Invalid jwt\.typ: expected at least one value/);
  assert.throws(() => load("true"), /Invalid jwt true: expected false/);
  assert.doesNotThrow(() => load("{ typ: [at+jwt] }"));
});
