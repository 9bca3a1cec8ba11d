/**
 * References that used to fail only at the first call are configuration
 * errors at load, each at its FILE:LINE:COLUMN: jump-host cycles, keys that
 * are not keys (or need another passphrase), unreadable known_hosts files,
 * agent paths that are not sockets, TLS material that is not PEM and a
 * Docker client key that does not belong to its certificate. Real keys and
 * certificates made with ssh-keygen and openssl.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { parseTargets } from "../../src/config/load.ts";
import { runCli, tempDirWith } from "../integration/_gateway.ts";

async function run(cmd: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
}

async function material(dir: string) {
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/plain`]);
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "s3cret-pass", "-f", `${dir}/locked`]);
  await Deno.writeTextFile(`${dir}/junk`, "this is not a key\n");
  for (const name of ["engine", "other"]) {
    await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      `${dir}/${name}.key`,
      "-out",
      `${dir}/${name}.crt`,
      "-days",
      "2",
      "-subj",
      `/CN=${name}`,
    ]);
  }
  await Deno.writeTextFile(`${dir}/known_hosts`, "");
}

function ssh(id: string, connection: string): string {
  return [
    `  - id: ${id}`,
    "    type: ssh",
    "    capabilities: [system:read]",
    `    connection: { host: 127.0.0.1, user: ops, ${connection} }`,
  ].join("\n");
}

const PIN = "host_key: SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

async function problems(text: string): Promise<string[]> {
  const error = await parseTargets(text, "targets.yaml").then(() => undefined, (e) => e);
  if (error === undefined) return [];
  assert.ok(error instanceof ConfigError, String(error));
  return error.message.split("\n");
}

Deno.test("a via chain that loops, or points to a missing or non-ssh target, is refused at its line", async () => {
  const text = [
    "targets:",
    ssh("a", `password: "\${P}", ${PIN}, via: b`),
    ssh("b", `password: "\${P}", ${PIN}, via: c`),
    ssh("c", `password: "\${P}", ${PIN}, via: a`),
    ssh("d", `password: "\${P}", ${PIN}, via: nowhere`),
    ssh("e", `password: "\${P}", ${PIN}, via: box`),
    "  - { id: box, type: local, capabilities: [system:read] }",
  ].join("\n");
  const found = await parseTargets(text, "targets.yaml", { resolveSecrets: false }).then(
    () => [],
    (e: ConfigError) => e.message.split("\n"),
  );
  assert.equal(found.length, 5, found.join("\n"));
  assert.match(found[0], /^targets\.yaml:5:\d+: .*chain a -> b -> c -> a is a cycle/);
  assert.match(found[1], /^targets\.yaml:9:\d+: .*chain b -> c -> a -> b is a cycle/);
  assert.match(found[2], /^targets\.yaml:13:\d+: .*chain c -> a -> b -> c is a cycle/);
  assert.match(
    found[3],
    /^targets\.yaml:17:\d+: Invalid via "nowhere": expected the id of another ssh target/,
  );
  assert.match(found[4], /^targets\.yaml:21:\d+: Invalid via "box"/);
});

Deno.test("keys that are not private keys, or need another passphrase, are refused at load", async () => {
  const dir = await tempDirWith();
  try {
    await material(dir);
    const good = await problems(
      [
        "targets:",
        ssh("plain", `key: "file:${dir}/plain", ${PIN}`),
        ssh("locked", `key: "file:${dir}/locked", passphrase: "file:${dir}/pass", ${PIN}`),
      ].join("\n").replace("file:" + dir + "/pass", "file:" + dir + "/pass"),
    )
      .catch(() => ["unexpected"]);
    // The passphrase file does not exist yet: the secret is reported, not the key.
    assert.match(good.join("\n"), /Cannot resolve secret from file/);
    await Deno.writeTextFile(`${dir}/pass`, "s3cret-pass\n");
    await Deno.writeTextFile(`${dir}/wrong`, "not-the-pass\n");
    const found = await problems([
      "targets:",
      ssh("plain", `key: "file:${dir}/plain", ${PIN}`),
      ssh("locked", `key: "file:${dir}/locked", passphrase: "file:${dir}/pass", ${PIN}`),
      ssh("junk", `key: "file:${dir}/junk", ${PIN}`),
      ssh("public", `key: "file:${dir}/plain.pub", ${PIN}`),
      ssh("nopass", `key: "file:${dir}/locked", ${PIN}`),
      ssh("badpass", `key: "file:${dir}/locked", passphrase: "file:${dir}/wrong", ${PIN}`),
    ].join("\n"));
    assert.equal(found.length, 4, found.join("\n"));
    assert.match(
      found[0],
      /^targets\.yaml:13:\d+: Cannot use the key from <secret from file:.*\/junk>/,
    );
    assert.match(found[1], /^targets\.yaml:17:\d+: .*expected a private key, found a public key/);
    assert.match(found[2], /^targets\.yaml:21:\d+: .*passphrase/i);
    assert.match(found[3], /^targets\.yaml:25:\d+: .*and its passphrase/);
    for (const line of found) assert.ok(!line.includes("s3cret-pass") && !line.includes("PRIVATE"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unreadable known_hosts, non-socket agents and bad TLS material are refused at their keys", async () => {
  const dir = await tempDirWith();
  try {
    await material(dir);
    const found = await problems([
      "targets:",
      ssh("kh", `password: "file:${dir}/junk", known_hosts: ${dir}/missing_known_hosts`),
      ssh("kh-ok", `password: "file:${dir}/junk", known_hosts: ${dir}/known_hosts`),
      ssh("agent", `agent: ${dir}/junk, ${PIN}`),
      ssh("agent-later", `agent: ${dir}/agent.sock, ${PIN}`),
      "  - id: engine",
      "    type: docker",
      "    capabilities: [container:read]",
      "    connection:",
      '      host: "tcp://127.0.0.1:2376"',
      `      tls: { ca: "file:${dir}/junk", cert: "file:${dir}/engine.crt", key: "file:${dir}/other.key" }`,
      "  - id: engine-ok",
      "    type: docker",
      "    capabilities: [container:read]",
      "    connection:",
      '      host: "tcp://127.0.0.1:2377"',
      `      tls: { ca: "file:${dir}/engine.crt", cert: "file:${dir}/engine.crt", key: "file:${dir}/engine.key" }`,
      "  - id: engine-dir",
      "    type: docker",
      "    capabilities: [container:read]",
      `    connection: { socket: ${dir} }`,
      "  - id: api",
      "    type: http",
      "    capabilities: [http:read]",
      "    connection:",
      "      base_url: https://127.0.0.1:8443",
      `      tls: { ca: "file:${dir}/engine.key" }`,
    ].join("\n"));
    assert.equal(found.length, 6, found.join("\n"));
    assert.match(
      found[0],
      /^targets\.yaml:5:\d+: Cannot read known_hosts file .*missing_known_hosts/,
    );
    assert.match(
      found[1],
      /^targets\.yaml:13:\d+: Invalid agent .*expected a unix socket, found a regular file/,
    );
    assert.match(found[2], /^targets\.yaml:\d+:\d+: Invalid CA from .*expected PEM certificates/);
    assert.match(
      found[3],
      /^targets\.yaml:\d+:\d+: Invalid key from .*does not belong to the certificate/,
    );
    assert.match(
      found[4],
      /^targets\.yaml:\d+:\d+: Invalid socket .*expected a unix socket, found a directory/,
    );
    assert.match(
      found[5],
      /^targets\.yaml:\d+:\d+: Invalid CA from .*engine\.key>: expected PEM certificates/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-config reports a jump-host cycle and a key that is not a key at FILE:LINE:COLUMN and exits 1", async () => {
  const dir = await tempDirWith({ junk: "not a key\n" });
  try {
    const text = [
      "targets:",
      ssh("a", `key: "file:${dir}/junk", ${PIN}, via: b`),
      ssh("b", `key: "file:${dir}/junk", ${PIN}, via: a`),
    ].join("\n");
    await Deno.writeTextFile(`${dir}/targets.yaml`, text);
    const run = await runCli(["check-config", `${dir}/targets.yaml`]);
    assert.equal(run.code, 1, run.stderr);
    const lines = run.ownStderr;
    assert.ok(
      lines.some((l) => /targets\.yaml:5:\d+: .*a -> b -> a is a cycle/.test(l)),
      lines.join("\n"),
    );
    await Deno.writeTextFile(
      `${dir}/targets.yaml`,
      ["targets:", ssh("a", `key: "file:${dir}/junk", ${PIN}`)].join("\n"),
    );
    const keyRun = await runCli(["check-config", `${dir}/targets.yaml`]);
    assert.equal(keyRun.code, 1, keyRun.stderr);
    assert.match(
      keyRun.ownStderr.join("\n"),
      /targets\.yaml:5:\d+: Cannot use the key from <secret from file:.*junk>: .*Unsupported key format/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
