import assert from "node:assert/strict";
import {
  advertisedScopes,
  canonicalResource,
  protectedResourceMetadata,
  resourceMetadataUrl,
} from "../../src/auth/metadata.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { parsePolicy } from "../../src/config/load.ts";
import { SCOPE_NAMES } from "../../src/config/capabilities.ts";
import { loadPositionParser } from "../../src/config/yaml_source.ts";

// The synchronous parsing below needs `yaml` loaded (the gateway loads it on demand).
await loadPositionParser();

Deno.test("protectedResourceMetadata() builds the RFC 9728 document and its paths", () => {
  const config = authConfigSchema.parse({
    resource: "https://GW.tail1234.ts.net/mcp/",
    oidc: [{ issuer: "https://idp.tail1234.ts.net" }],
  });
  const { document, paths } = protectedResourceMetadata(config)!;
  assert.deepEqual(document, {
    resource: "https://gw.tail1234.ts.net/mcp",
    authorization_servers: ["https://idp.tail1234.ts.net"],
    scopes_supported: [...SCOPE_NAMES],
    bearer_methods_supported: ["header"],
    resource_name: "TailOpsMCP gateway",
  });
  assert.deepEqual(paths, [
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
  ]);
  const override = protectedResourceMetadata(config, { resource: "http://127.0.0.1:8080/mcp" });
  assert.equal(override?.document.resource, "http://127.0.0.1:8080/mcp");
});

Deno.test("protectedResourceMetadata() gives no document when no authorization server is configured", () => {
  const config = authConfigSchema.parse({ resource: "https://gw.example/mcp" });
  assert.equal(protectedResourceMetadata(config), undefined);
});

Deno.test("resourceMetadataUrl() inserts the well-known prefix before the path", () => {
  assert.equal(
    resourceMetadataUrl("https://h.example/mcp"),
    "https://h.example/.well-known/oauth-protected-resource/mcp",
  );
  assert.equal(
    resourceMetadataUrl("https://h.example"),
    "https://h.example/.well-known/oauth-protected-resource",
  );
});

Deno.test("canonicalResource() refuses queries, fragments and other schemes", () => {
  assert.throws(() => canonicalResource("https://h/mcp?x=1"), TypeError);
  assert.throws(() => canonicalResource("https://h/mcp#f"), TypeError);
  assert.throws(() => canonicalResource("ftp://h/mcp"), TypeError);
  assert.throws(() => canonicalResource("mcp"), /expected an absolute URL, found "mcp"/);
});

Deno.test("policy files accept identities and auth sections and stay valid without them", () => {
  const plain = parsePolicy("version: 1\nrules: []\n", "p.yaml");
  assert.equal(plain.identities, undefined);
  assert.equal(plain.auth.admin_token, true);
  assert.equal(plain.auth.tailscale.enabled, false);
  const full = parsePolicy(
    `version: 1
identities:
  roles:
    viewer: { scopes: [system:read] }
  bindings:
    - { local: alice, roles: viewer }
auth:
  resource: https://gw.example/mcp
  oidc:
    - issuer: https://idp.example
      algorithms: [ES256]
      introspection: { token_prefix: idp_at_, client_id: tailops, client_secret: "\${IDP_SECRET}" }
  tailscale: { enabled: true }
`,
    "p.yaml",
  );
  assert.deepEqual(full.identities?.bindings[0].roles, ["viewer"]);
  assert.equal(full.auth.oidc[0].introspection?.client_secret.source, "env:IDP_SECRET");
  assert.throws(
    () =>
      parsePolicy("auth:\n  oidc:\n    - issuer: https://i\n      algorithms: [HS256]\n", "p.yaml"),
    /p\.yaml:4:\d+: Invalid algorithm "HS256"/,
  );
  assert.throws(
    () =>
      parsePolicy("auth:\n  oidc:\n    - issuer: https://i\n      algorithms: [none]\n", "p.yaml"),
    /Invalid algorithm "none"/,
  );
});

Deno.test("advertised scopes are each issuer's scopes, or the gateway's scope names for an issuer without them", () => {
  const parse = (oidc: unknown[]) =>
    authConfigSchema.parse({ resource: "https://gw.example/mcp", oidc });
  assert.deepEqual(advertisedScopes(parse([])), [...SCOPE_NAMES]);
  const tsidp = { issuer: "https://idp.tail1234.ts.net", scopes: ["openid", "email"] };
  assert.deepEqual(advertisedScopes(parse([tsidp])), ["openid", "email"]);
  assert.deepEqual(protectedResourceMetadata(parse([tsidp]))?.document.scopes_supported, [
    "openid",
    "email",
  ]);
  const mixed = advertisedScopes(parse([tsidp, { issuer: "https://other.example" }]));
  assert.deepEqual(mixed, ["openid", "email", ...SCOPE_NAMES]);
  for (const bad of ["has space", 'quo"te', "", "back\\slash"]) {
    assert.equal(
      authConfigSchema.safeParse({ oidc: [{ issuer: "https://i.example", scopes: [bad] }] })
        .success,
      false,
      bad,
    );
  }
  assert.equal(
    authConfigSchema.safeParse({ oidc: [{ issuer: "https://i.example", scopes: [] }] }).success,
    false,
    "an empty list would advertise no scope at all",
  );
});
