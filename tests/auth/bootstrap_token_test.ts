import assert from "node:assert/strict";
import {
  constantTimeEqual,
  ensureAdminToken,
  loadAdminTokenVerifier,
} from "../../src/auth/bootstrap_token.ts";
import { createAuthenticator } from "../../src/auth/authenticator.ts";
import { LOOPBACK, mcpRequest, RESOURCE, tempStateDir } from "./_helpers.ts";

Deno.test("ensureAdminToken() creates a 0600 token once", async () => {
  const dir = await tempStateDir();
  const first = await ensureAdminToken(dir);
  assert.equal(first.created, true);
  assert.equal((await Deno.stat(first.path)).mode! & 0o777, 0o600);
  const token = (await Deno.readTextFile(first.path)).trim();
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  const second = await ensureAdminToken(dir);
  assert.equal(second.created, false);
  assert.equal((await Deno.readTextFile(first.path)).trim(), token);
});

Deno.test("loadAdminTokenVerifier() accepts only the exact token", async () => {
  const dir = await tempStateDir();
  const { path } = await ensureAdminToken(dir);
  const token = (await Deno.readTextFile(path)).trim();
  const verify = await loadAdminTokenVerifier(dir);
  assert.equal(await verify(token), true);
  assert.equal(await verify(token.slice(0, -1)), false);
  assert.equal(await verify(""), false);
});

Deno.test("constantTimeEqual() compares lengths and bytes", () => {
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2])), true);
  assert.equal(constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3])), false);
  assert.equal(constantTimeEqual(new Uint8Array([1]), new Uint8Array([1, 2])), false);
});

Deno.test("createAuthenticator() maps the admin token to a full identity", async () => {
  const dir = await tempStateDir();
  const { path } = await ensureAdminToken(dir);
  const token = (await Deno.readTextFile(path)).trim();
  const auth = await createAuthenticator({}, { stateDir: dir, resource: RESOURCE });
  const outcome = await auth.authenticate(mcpRequest(token), LOOPBACK);
  assert.equal(outcome.ok, true);
  if (!outcome.ok) return;
  assert.equal(outcome.identity.subject, "token:admin");
  assert.equal(outcome.identity.scopes.has("system:admin"), true);
  assert.deepEqual(outcome.principal, { kind: "admin" });
});

Deno.test("createAuthenticator() challenges a request without a token", async () => {
  const dir = await tempStateDir();
  await ensureAdminToken(dir);
  const auth = await createAuthenticator({}, { stateDir: dir, resource: RESOURCE });
  const outcome = await auth.authenticate(mcpRequest(), LOOPBACK);
  assert.equal(outcome.ok, false);
  if (outcome.ok) return;
  assert.equal(outcome.status, 401);
  const header = outcome.headers["WWW-Authenticate"];
  assert.match(
    header,
    /^Bearer realm="tailops", scope="system:read /,
  );
  // No issuer, so no metadata document to point at.
  assert.doesNotMatch(header, /resource_metadata/);
  assert.match(
    String((outcome.body as { error_description: string }).error_description),
    /^A bearer token is required: .*tailops token mint --sub NAME --role ROLE --ttl 8h/,
  );
  assert.doesNotMatch(header, /error=/);
  const wrong = await auth.authenticate(mcpRequest("not-the-token-xxxxxxxxxxxxxxxxxxxx"), LOOPBACK);
  assert.equal(wrong.ok, false);
  if (wrong.ok) return;
  assert.equal(wrong.status, 401);
  assert.match(wrong.headers["WWW-Authenticate"], /^Bearer realm="tailops", error="invalid_token"/);
});
