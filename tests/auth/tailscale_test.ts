import assert from "node:assert/strict";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { isLoopback } from "../../src/auth/tailscale.ts";
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

Deno.test("tailscale: headers from loopback are trusted when enabled", async () => {
  const auth = await setup(true);
  for (const remoteAddr of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) {
    const outcome = await auth.authenticate(mcpRequest(undefined, headers), { remoteAddr });
    assert.equal(outcome.ok, true, remoteAddr);
    if (!outcome.ok) continue;
    assert.equal(outcome.identity.subject, "tailscale:alice@github");
    assert.equal(outcome.identity.kind, "tailscale");
    assert.deepEqual(outcome.principal, {
      kind: "tailscale",
      login: "alice@github",
      name: "Alice",
    });
    assert.equal(outcome.ignoredTailscaleHeaders, undefined);
  }
});

Deno.test("tailscale: headers from another address are ignored and flagged", async () => {
  const auth = await setup(true);
  for (const remoteAddr of ["100.64.0.7", "192.168.1.2", "fd7a:115c:a1e0::1"]) {
    const outcome = await auth.authenticate(mcpRequest(undefined, headers), { remoteAddr });
    assert.equal(outcome.ok, false, remoteAddr);
    if (outcome.ok) continue;
    assert.equal(outcome.status, 401);
    assert.equal(outcome.ignoredTailscaleHeaders, true);
    assert.doesNotMatch(outcome.headers["WWW-Authenticate"], /error=/);
  }
});

Deno.test("tailscale: headers are ignored and flagged when the mode is disabled", async () => {
  const auth = await setup(false);
  const outcome = await auth.authenticate(mcpRequest(undefined, headers), {
    remoteAddr: "127.0.0.1",
  });
  assert.equal(outcome.ok, false);
  assert.equal(outcome.ignoredTailscaleHeaders, true);
});

Deno.test("tailscale: an unbound login is refused with 403", async () => {
  const auth = await setup(true);
  const outcome = await auth.authenticate(
    mcpRequest(undefined, { "Tailscale-User-Login": "mallory@github" }),
    { remoteAddr: "127.0.0.1" },
  );
  assert.equal(!outcome.ok && outcome.status, 403);
});

Deno.test("isLoopback() accepts 127.0.0.0/8 and ::1 only", () => {
  const table: [string, boolean][] = [
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["::ffff:127.0.0.1", true],
    ["128.0.0.1", false],
    ["10.0.0.1", false],
    ["100.64.0.1", false],
    ["::ffff:10.0.0.1", false],
    ["::", false],
    ["fe80::1", false],
    ["127.0.0.256", false],
    ["localhost", false],
    ["", false],
  ];
  for (const [address, expected] of table) assert.equal(isLoopback(address), expected, address);
});
