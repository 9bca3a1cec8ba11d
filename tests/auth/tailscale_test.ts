import assert from "node:assert/strict";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { authConfigSchema } from "../../src/config/auth_schema.ts";
import { identitiesSchema } from "../../src/config/identities_schema.ts";
import { mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

const identities = identitiesSchema.parse({
  roles: { viewer: { scopes: ["system:read"] } },
  bindings: [{ tailscale: "alice@github", roles: "viewer" }],
});
const headers = { "Tailscale-User-Login": "alice@github", "Tailscale-User-Name": "Alice" };

async function setup(enabled: boolean) {
  const auth = authConfigSchema.parse({ resource: RESOURCE, tailscale: { enabled } });
  return await createAuthenticator({ auth, identities }, { stateDir: await tempStateDir() });
}

const SOCKET = { remoteAddr: "", channel: "tailscale_socket" } as const;

Deno.test("tailscale: headers on the tailscale serve socket are trusted when enabled", async () => {
  const auth = await setup(true);
  const outcome = await auth.authenticate(mcpRequest(undefined, headers), SOCKET);
  assert.equal(outcome.ok, true);
  if (!outcome.ok) return;
  assert.equal(outcome.identity.subject, "tailscale:alice@github");
  assert.equal(outcome.identity.kind, "tailscale");
  assert.deepEqual(outcome.principal, { kind: "tailscale", login: "alice@github", name: "Alice" });
  assert.equal(outcome.ignoredTailscaleHeaders, undefined);
});

Deno.test("tailscale: headers over TCP are ignored and flagged, loopback included", async () => {
  const auth = await setup(true);
  const peers = ["127.0.0.1", "::1", "::ffff:127.0.0.1", "100.64.0.7", "fd7a:115c:a1e0::1", ""];
  for (const remoteAddr of peers) {
    for (const info of [{ remoteAddr }, { remoteAddr, channel: "tcp" as const }]) {
      const outcome = await auth.authenticate(mcpRequest(undefined, headers), info);
      assert.equal(outcome.ok, false, remoteAddr);
      if (outcome.ok) continue;
      assert.equal(outcome.status, 401);
      assert.equal(outcome.ignoredTailscaleHeaders, true);
    }
  }
});

Deno.test("tailscale: refused headers over TCP get a plain challenge, not an error", async () => {
  const auth = await setup(true);
  const outcome = await auth.authenticate(mcpRequest(undefined, headers), {
    remoteAddr: "127.0.0.1",
  });
  assert.equal(!outcome.ok && outcome.status, 401);
  if (outcome.ok) return;
  assert.doesNotMatch(outcome.headers["WWW-Authenticate"], /error=/);
});

Deno.test("tailscale: headers are ignored and flagged when the mode is disabled", async () => {
  const auth = await setup(false);
  const outcome = await auth.authenticate(mcpRequest(undefined, headers), SOCKET);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.ignoredTailscaleHeaders, true);
});

Deno.test("tailscale: an unbound login is refused with 403", async () => {
  const auth = await setup(true);
  const outcome = await auth.authenticate(
    mcpRequest(undefined, { "Tailscale-User-Login": "mallory@github" }),
    SOCKET,
  );
  assert.equal(!outcome.ok && outcome.status, 403);
});
