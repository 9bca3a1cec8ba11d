/**
 * An OAuth-only client reaches the gateway through a tsidp-shaped
 * authorization server (tests/auth/_tsidp.ts, built from tsidp's code): it
 * discovers the resource metadata, registers dynamically, authorizes with
 * PKCE and `resource`, and calls tools with tsidp's opaque 32-hex access
 * token, which the gateway introspects (`token_format: tsidp`). Tokens of any
 * other shape never reach the introspection endpoint.
 *
 * @module
 */
import assert from "node:assert/strict";
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthClientProvider,
  OAuthDiscoveryState,
  OAuthTokens,
} from "@modelcontextprotocol/client";
import { UnauthorizedError } from "@modelcontextprotocol/client";
import { startTsidp, TSIDP_USER } from "../auth/_tsidp.ts";
import { authGateway, postInitialize, ROLES_YAML } from "./_auth_gateway.ts";
import { Client, StreamableHTTPClientTransport } from "./_gateway.ts";

/** A client's OAuth state in memory; the "browser" is the test following the redirect. */
class MemoryOAuthProvider implements OAuthClientProvider {
  authorizationUrl: URL | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier = "";
  #discovery: OAuthDiscoveryState | undefined;
  readonly redirectUrl = "http://127.0.0.1:9/callback";
  get clientMetadata(): OAuthClientMetadata {
    // What public MCP clients register with: no secret wanted (tsidp issues one anyway).
    return {
      client_name: "tailops-oauth-test",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
    };
  }
  clientInformation() {
    return this.#client;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.#client = info;
  }
  tokens() {
    return this.#tokens;
  }
  saveTokens(tokens: OAuthTokens) {
    this.#tokens = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.#verifier = verifier;
  }
  codeVerifier() {
    return this.#verifier;
  }
  saveDiscoveryState(state: OAuthDiscoveryState) {
    this.#discovery = state;
  }
  discoveryState() {
    return this.#discovery;
  }
}

/** The gateway's policy: tsidp as the issuer, `email` bound to the viewer role. */
function tsidpPolicy(
  issuer: string,
  options: { id: string; secretFile: string; email: string },
): string {
  return [
    "version: 1",
    "rules:",
    "  - id: observe",
    "    tiers: [observe]",
    "identities:",
    ROLES_YAML,
    "  bindings:",
    `    - { oidc_email: ${options.email}, issuer: "${issuer}", roles: [viewer] }`,
    "auth:",
    "  oidc:",
    `    - issuer: "${issuer}"`,
    "      algorithms: [RS256]",
    "      scopes: [openid, email]",
    "      claims: { email: username }",
    "      introspection:",
    "        token_format: tsidp",
    `        client_id: ${options.id}`,
    `        client_secret: "file:${options.secretFile}"`,
  ].join("\n");
}

/**
 * The SDK's own OAuth flow: discovery, registration, authorization (the test
 * follows tsidp's redirect as the browser would), token.
 *
 * @returns A transport holding the tokens.
 */
async function signIn(url: URL, provider: MemoryOAuthProvider) {
  const first = new Client({ name: "oauth-only", version: "0" });
  await assert.rejects(
    first.connect(new StreamableHTTPClientTransport(url, { authProvider: provider })),
    UnauthorizedError,
  );
  const authorizationUrl = provider.authorizationUrl;
  assert.ok(authorizationUrl, "the client was sent to the authorization endpoint");
  assert.equal(authorizationUrl.searchParams.get("resource"), url.href);
  assert.equal(authorizationUrl.searchParams.get("scope"), "openid email");
  const redirect = await fetch(authorizationUrl, { redirect: "manual" });
  await redirect.body?.cancel();
  const back = new URL(redirect.headers.get("location") ?? "");
  const code = back.searchParams.get("code");
  assert.ok(code, `tsidp redirected with a code, found ${back.href}`);
  const transport = new StreamableHTTPClientTransport(url, { authProvider: provider });
  await transport.finishAuth(code);
  return transport;
}

/** A raw `initialize` POST; returns status, challenge and body. */
async function initialize(url: URL, token?: string) {
  const response = await postInitialize(url, token ? { Authorization: `Bearer ${token}` } : {});
  const body = await response.text();
  return { status: response.status, challenge: response.headers.get("www-authenticate"), body };
}

Deno.test("An OAuth-only client connects through a tsidp-shaped issuer and only tsidp-shaped tokens are introspected", async () => {
  await using tsidp = await startTsidp({ allowDcr: true, resources: [] });
  const introspector = tsidp.addClient();
  const secretDir = await Deno.makeTempDir({ prefix: "tailops-tsidp-" });
  try {
    const secretFile = `${secretDir}/secret`;
    await Deno.writeTextFile(secretFile, introspector.secret, { mode: 0o600 });
    await using gw = await authGateway(
      tsidpPolicy(tsidp.issuer, { ...introspector, secretFile, email: TSIDP_USER.login }),
    );
    tsidp.grant.resources.push(gw.url.href);
    await gw.start();

    // What an OAuth client discovers: the issuer, and scopes tsidp accepts.
    const unauthenticated = await initialize(gw.url);
    assert.equal(unauthenticated.status, 401);
    assert.match(unauthenticated.challenge ?? "", /resource_metadata="[^"]+"/);
    assert.match(unauthenticated.challenge ?? "", /scope="openid email"/);
    const prm = await (await fetch(new URL("/.well-known/oauth-protected-resource/mcp", gw.url)))
      .json();
    assert.deepEqual(prm.authorization_servers, [tsidp.issuer]);
    assert.deepEqual(prm.scopes_supported, ["openid", "email"]);

    const provider = new MemoryOAuthProvider();
    const transport = await signIn(gw.url, provider);
    const accessToken = provider.tokens()?.access_token ?? "";
    assert.match(accessToken, /^[0-9a-f]{32}$/, "tsidp's access token is 32 hex characters");

    const client = new Client({ name: "oauth-only", version: "0" });
    await client.connect(transport);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      assert.ok(names.includes("system_status"), names.join(","));
      assert.ok(!names.includes("service_control"), "the viewer role cannot control services");
      const result = await client.callTool({
        name: "system_status",
        arguments: { target: "local" },
      });
      assert.notEqual(result.isError, true, JSON.stringify(result.content));
    } finally {
      await client.close();
    }
    // tsidp's ID token names this gateway in aud too, but tsidp's JWTs are never access tokens.
    const idToken = provider.tokens()?.id_token ?? "";
    assert.match(idToken, /^eyJ/, "tsidp issued an ID token");
    const idRefused = await initialize(gw.url, idToken);
    assert.equal(idRefused.status, 401);
    assert.match(idRefused.body, /expected an opaque access token from issuer .* \(jwt: false\)/);
    const subjects = (await gw.audit()).map((line) => line.identity);
    assert.ok(subjects.includes(`oidc:${tsidp.issuer}#${TSIDP_USER.uid}`), subjects.join(","));

    // tsidp tokens without this gateway as audience, or unknown to tsidp, are refused.
    const sent = () => tsidp.hits.get("/introspect") ?? 0;
    const noResource = tsidp.issue({ clientId: introspector.id });
    const refused = await initialize(gw.url, noResource);
    assert.equal(refused.status, 401);
    assert.match(refused.body, /expected audience/);
    assert.equal((await initialize(gw.url, "0123456789abcdef0123456789abcdef")).status, 401);

    // Nothing of another shape is sent: not even near misses of tsidp's.
    const admin = (await Deno.readTextFile(`${gw.stateDir}/admin.token`)).trim();
    const before = sent();
    for (
      const token of [
        accessToken.slice(1),
        `${accessToken}0`,
        accessToken.toUpperCase(),
        `${accessToken.slice(0, 31)}g`,
        `tsidp_${accessToken}`,
        admin.slice(0, 32),
        `${admin}x`,
      ]
    ) {
      assert.equal((await initialize(gw.url, token)).status, 401, token);
    }
    assert.equal(sent(), before, "no token of another shape reached the introspection endpoint");
    assert.equal((await initialize(gw.url, admin)).status, 200);
    assert.equal(sent(), before, "the admin token is checked locally");
  } finally {
    await Deno.remove(secretDir, { recursive: true });
  }
});

Deno.test("A tailnet user the policy does not bind signs in at tsidp but gets one clear 403 from the gateway", async () => {
  await using tsidp = await startTsidp({ allowDcr: true, resources: [] });
  const introspector = tsidp.addClient();
  const secretDir = await Deno.makeTempDir({ prefix: "tailops-tsidp-" });
  try {
    const secretFile = `${secretDir}/secret`;
    await Deno.writeTextFile(secretFile, introspector.secret, { mode: 0o600 });
    await using gw = await authGateway(
      tsidpPolicy(tsidp.issuer, { ...introspector, secretFile, email: "bob@example.com" }),
    );
    tsidp.grant.resources.push(gw.url.href);
    await gw.start();
    const provider = new MemoryOAuthProvider();
    const transport = await signIn(gw.url, provider);
    const response = await initialize(gw.url, provider.tokens()?.access_token);
    assert.equal(response.status, 403);
    assert.match(response.challenge ?? "", /error="insufficient_scope"/);
    assert.match(response.body, new RegExp(`oidc:${tsidp.issuer}#${TSIDP_USER.uid}`));
    const client = new Client({ name: "oauth-only", version: "0" });
    const authorizations = tsidp.hits.get("/authorize");
    // The SDK reports only "Unauthorized"; the 403 body above is what names the identity.
    await assert.rejects(client.connect(transport));
    assert.equal(tsidp.hits.get("/authorize"), authorizations, "no sign-in loop");
  } finally {
    await Deno.remove(secretDir, { recursive: true });
  }
});
