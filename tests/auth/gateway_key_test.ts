import assert from "node:assert/strict";
import { CompactSign, compactVerify, createLocalJWKSet } from "jose";
import { loadOrCreateGatewayKey, rotateGatewayKey } from "../../src/auth/gateway_key.ts";
import { tempStateDir } from "./_helpers.ts";

const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("loadOrCreateGatewayKey() creates an Ed25519 key with private modes", async () => {
  const dir = await tempStateDir();
  const key = await loadOrCreateGatewayKey(dir);
  assert.equal(key.alg, "EdDSA");
  assert.equal(key.publicJwks.length, 1);
  assert.equal(key.publicJwks[0].kid, key.kid);
  assert.equal("d" in key.publicJwks[0], false);
  assert.equal(await modeOf(`${dir}/keys`), 0o700);
  assert.equal(await modeOf(`${dir}/keys/gateway.jwk.json`), 0o600);
  const again = await loadOrCreateGatewayKey(dir);
  assert.equal(again.kid, key.kid);
});

Deno.test("loadOrCreateGatewayKey() refuses a key file readable by others", async () => {
  const dir = await tempStateDir();
  await loadOrCreateGatewayKey(dir);
  await Deno.chmod(`${dir}/keys/gateway.jwk.json`, 0o644);
  await assert.rejects(loadOrCreateGatewayKey(dir), /expected mode 0600, found 0644/);
});

Deno.test("rotateGatewayKey() keeps old public keys so old signatures verify", async () => {
  const dir = await tempStateDir();
  const old = await loadOrCreateGatewayKey(dir);
  const jws = await new CompactSign(new TextEncoder().encode("hi"))
    .setProtectedHeader({ alg: "EdDSA", kid: old.kid }).sign(old.privateKey);
  const rotated = await rotateGatewayKey(dir);
  assert.notEqual(rotated.kid, old.kid);
  assert.deepEqual(rotated.publicJwks.map((k) => k.kid), [rotated.kid, old.kid]);
  const jwks = createLocalJWKSet({ keys: [...rotated.publicJwks] });
  const { payload } = await compactVerify(jws, jwks);
  assert.equal(new TextDecoder().decode(payload), "hi");
  const reloaded = await loadOrCreateGatewayKey(dir);
  assert.equal(reloaded.kid, rotated.kid);
  assert.equal(await modeOf(`${dir}/keys/retained.jwks.json`), 0o600);
});
