import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import {
  fingerprintOf,
  hostKeyPolicy,
  knownHostsName,
} from "../../src/exec/workers/_ssh_host_keys.ts";

/** A fake ed25519 key blob: string "ssh-ed25519" then 32 bytes. */
function blob(seed: number): Buffer {
  const type = Buffer.from("ssh-ed25519");
  const key = Buffer.alloc(32, seed);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(type.length);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(32);
  return Buffer.concat([head, type, len, key]);
}

const A = blob(1);
const B = blob(2);
const line = (hosts: string, key: Buffer) => `${hosts} ssh-ed25519 ${key.toString("base64")}`;

function hashed(name: string): string {
  const salt = Buffer.alloc(20, 7);
  return `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;
}

Deno.test("fingerprintOf() matches OpenSSH's unpadded SHA256 form", () => {
  assert.match(fingerprintOf(A), /^SHA256:[A-Za-z0-9+/]{43}$/);
});

Deno.test("knownHostsName() brackets non-default ports", () => {
  assert.equal(knownHostsName("web", 22), "web");
  assert.equal(knownHostsName("web", 2222), "[web]:2222");
});

Deno.test("hostKeyPolicy() trusts plain, wildcard and hashed known_hosts entries", () => {
  for (const hosts of ["other,[web.lan]:2222", "[*.lan]:2222", hashed("[web.lan]:2222")]) {
    const policy = hostKeyPolicy({ knownHosts: line(hosts, A), host: "web.lan", port: 2222 });
    assert.equal(policy.verify(A).trusted, true, hosts);
    assert.deepEqual(policy.algorithms, ["ssh-ed25519"]);
  }
});

Deno.test("hostKeyPolicy() refuses changed, unknown, negated and revoked keys", () => {
  const changed = hostKeyPolicy({ knownHosts: line("web", A), host: "web", port: 22 }).verify(B);
  assert.deepEqual([changed.trusted, changed.reason], [false, "changed"]);
  const unknown = hostKeyPolicy({ knownHosts: line("db", A), host: "web", port: 22 }).verify(A);
  assert.deepEqual([unknown.trusted, unknown.reason], [false, "unknown"]);
  const negated = hostKeyPolicy({ knownHosts: line("*,!web", A), host: "web", port: 22 }).verify(A);
  assert.equal(negated.trusted, false);
  const revoked = hostKeyPolicy({
    knownHosts: `${line("web", A)}\n@revoked ${line("*", A)}`,
    host: "web",
    port: 22,
  })
    .verify(A);
  assert.deepEqual([revoked.trusted, revoked.reason], [false, "revoked"]);
});

Deno.test("hostKeyPolicy() with a pin trusts exactly that fingerprint", () => {
  const policy = hostKeyPolicy({ pin: fingerprintOf(A), host: "web", port: 22 });
  assert.equal(policy.verify(A).trusted, true);
  assert.equal(policy.verify(B).trusted, false);
  assert.equal(policy.verify(B).fingerprint, fingerprintOf(B));
});
