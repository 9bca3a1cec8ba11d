/**
 * The proxmox target schema: an API token and never a password, an https API
 * root, one way of trusting TLS, node names and the capabilities a cluster
 * can have.
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parseTargets } from "../../src/config/load.ts";

const PIN = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, "0")).join(":");

function registry(connection: Record<string, string>, capabilities = "[guest:read]"): string {
  const lines = Object.entries(connection).map(([k, v]) => `      ${k}: ${v}`);
  return [
    "targets:",
    "  - id: pve",
    "    type: proxmox",
    `    capabilities: ${capabilities}`,
    "    connection:",
    ...lines,
  ].join("\n");
}

const GOOD = {
  base_url: "https://pve1.lan:8006/api2/json",
  token_id: '"tailops@pve!gateway"',
  token_secret: '"${PVE_SECRET}"',
  tls: `{ fingerprint: "${PIN}" }`,
};

async function problems(text: string): Promise<string> {
  try {
    await parseTargets(text, "t.yaml", { resolveSecrets: false });
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail("expected the registry to be refused");
}

Deno.test("a proxmox target with a token, a pin and a node list loads; the pin is upper-cased", async () => {
  const text = registry({ ...GOOD, nodes: "[pve1, pve-2]" });
  const { targets } = await parseTargets(text, "t.yaml", { resolveSecrets: false });
  const target = targets[0];
  assert.equal(target.type, "proxmox");
  if (target.type !== "proxmox") return;
  assert.equal(target.connection.tls.fingerprint, PIN.toUpperCase());
  assert.deepEqual(target.connection.nodes, ["pve1", "pve-2"]);
  assert.equal(target.connection.token_secret.source, "env:PVE_SECRET");
});

Deno.test("a proxmox target refuses a password, a literal secret and a malformed token id", async () => {
  assert.match(await problems(registry({ ...GOOD, password: '"${X}"' })), /password/);
  assert.match(
    await problems(registry({ ...GOOD, token_secret: "5f1e2d3c-4b5a-6978" })),
    /token_secret/,
  );
  for (const id of ['"tailops@pve"', '"tailops!gw"', '"a b@pve!gw"', '"x@pve!gw/../x"']) {
    assert.match(await problems(registry({ ...GOOD, token_id: id })), /USER@REALM!TOKENID/, id);
  }
});

Deno.test("a proxmox target refuses plain http, another path, a bad pin and two trust anchors", async () => {
  assert.match(
    await problems(registry({ ...GOOD, base_url: "http://pve1.lan:8006/api2/json" })),
    /https/,
  );
  assert.match(
    await problems(registry({ ...GOOD, base_url: "https://pve1.lan:8006/api2/extjs" })),
    /api2\/json/,
  );
  assert.match(await problems(registry({ ...GOOD, tls: '{ fingerprint: "AB:CD" }' })), /SHA-256/);
  assert.match(
    await problems(registry({ ...GOOD, tls: `{ fingerprint: "${PIN}", ca: "file:/x.pem" }` })),
    /not both/,
  );
  assert.match(await problems(registry({ ...GOOD, nodes: '["pve1/../x"]' })), /node name/);
});

Deno.test("a proxmox target can hold guest and backup capabilities only", async () => {
  assert.match(
    await problems(registry(GOOD, "[guest:read, system:read]")),
    /"system:read" is not supported by proxmox targets/,
  );
});
