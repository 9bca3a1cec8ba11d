import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { parseHostPort } from "../../src/cli/keyscan_cmd.ts";
import { SshdTestbed } from "../../scripts/testbed/sshd.ts";
import { freePort } from "../../scripts/testbed/_sshd_util.ts";

/** `ssh-keygen -lf FILE`'s fingerprint, computed by OpenSSH itself. */
async function sshKeygenFingerprint(file: string): Promise<string> {
  const out = await new Deno.Command("ssh-keygen", { args: ["-lf", file] }).output();
  assert.equal(out.code, 0);
  return new TextDecoder().decode(out.stdout).split(" ")[1];
}

function targetsYaml(host: string, port: number, hostKey?: string): string {
  return `version: 1
targets:
  - id: web-1
    type: ssh
    capabilities: [system:read]
    connection:
      host: ${host}
      port: ${port}
      user: ops
      key: "file:/nonexistent/key"
      ${hostKey ? `host_key: "${hostKey}"` : "known_hosts: /nonexistent/known_hosts"}
  - id: gw
    type: local
    capabilities: [system:read]
`;
}

Deno.test("parseHostPort() accepts HOST:PORT and [IPv6]:PORT only", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:2222"), { host: "127.0.0.1", port: 2222 });
  assert.deepEqual(parseHostPort("[::1]:22"), { host: "::1", port: 22 });
  assert.deepEqual(parseHostPort("db.example.com:22"), { host: "db.example.com", port: 22 });
  for (const bad of ["web-1", "host:0", "host:70000", "::1:22", "a b:22"]) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});

Deno.test({
  name: "ssh-keyscan TARGET prints the fingerprints ssh-keygen -lf gives and the line to pin",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const testbed = await SshdTestbed.start({ authorizedKeys: [] });
    const dir = await Deno.makeTempDir({ prefix: "tailops-cli-keyscan-" });
    try {
      const { host, port } = testbed.instances[0];
      const expected = await sshKeygenFingerprint(`${testbed.dir}/ssh_host_ed25519_key.pub`);
      const targets = `${dir}/targets.yaml`;
      await Deno.writeTextFile(targets, targetsYaml(host, port));

      const run = await cli("ssh-keyscan", "web-1", "--targets", targets);
      assert.equal(run.code, 0, run.err);
      const lines = run.out.split("\n");
      assert.equal(lines[0], `web-1 ssh-ed25519 ${expected}`);
      assert.deepEqual(
        lines.map((l) => l.split(" ")[2]),
        testbed.hostKeys.map((k) => k.fingerprint),
      );
      assert.ok(lines.every((l) => /^web-1 \S+ SHA256:[A-Za-z0-9+/]{43}$/.test(l)), run.out);
      assert.match(run.err, new RegExp(`#   host_key: ${expected.replace(/\+/g, "\\+")}`));

      // Directly, when the argument is not a target id; TAILOPS_TARGETS is the fallback.
      Deno.env.set("TAILOPS_TARGETS", targets);
      try {
        const direct = await cli("ssh-keyscan", `${host}:${port}`);
        assert.equal(direct.code, 0, direct.err);
        assert.equal(direct.out.split("\n")[0], `${host}:${port} ssh-ed25519 ${expected}`);
      } finally {
        Deno.env.delete("TAILOPS_TARGETS");
      }

      // A target that pins its key: say whether the pin still matches.
      await Deno.writeTextFile(targets, targetsYaml(host, port, expected));
      const pinned = await cli("ssh-keyscan", "web-1", "--targets", targets);
      assert.equal(pinned.code, 0, pinned.err);
      assert.match(pinned.err, /The pinned host_key of web-1 matches its ssh-ed25519 key/);

      const stale = `SHA256:${"A".repeat(43)}`;
      await Deno.writeTextFile(targets, targetsYaml(host, port, stale));
      const changed = await cli("ssh-keyscan", "web-1", "--targets", targets);
      assert.equal(changed.code, 1);
      assert.match(changed.err, /The pinned host_key SHA256:A+ of web-1 matches no key/);

      const rsa = testbed.hostKeys.find((k) => k.type === "rsa")!.fingerprint;
      await Deno.writeTextFile(targets, targetsYaml(host, port, rsa));
      const second = await cli("ssh-keyscan", "web-1", "--targets", targets);
      assert.equal(second.code, 1);
      assert.match(second.err, /is its ssh-rsa key, but the gateway is shown the ssh-ed25519 key/);
    } finally {
      await testbed.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ssh-keyscan reports a closed port as one clear line and exit 1",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const port = freePort("127.0.0.1");
    const run = await cli("ssh-keyscan", `127.0.0.1:${port}`);
    assert.equal(run.code, 1);
    assert.equal(
      run.err,
      `tailops: Cannot connect to 127.0.0.1:${port}: the connection was refused`,
    );
    assert.equal(run.out, "");
  },
});

Deno.test("ssh-keyscan refuses unknown names, non-ssh targets and bad usage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-cli-keyscan-" });
  try {
    const targets = `${dir}/targets.yaml`;
    await Deno.writeTextFile(targets, targetsYaml("127.0.0.1", 22));
    const unknown = await cli("ssh-keyscan", "web-9", "--targets", targets);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.err,
      /^tailops: No target "web-9" in .*targets\.yaml: expected an ssh target id or HOST:PORT$/,
    );
    const local = await cli("ssh-keyscan", "gw", "--targets", targets);
    assert.equal(local.code, 1);
    assert.match(local.err, /Cannot scan target "gw": expected an ssh target, found local/);
    const noFile = await cli("ssh-keyscan", "web-1");
    assert.equal(noFile.code, 1);
    assert.match(noFile.err, /embedded default targets \(give --targets FILE or TAILOPS_TARGETS\)/);
    const missingFile = await cli("ssh-keyscan", "web-1", "--targets", `${dir}/nope.yaml`);
    assert.equal(missingFile.code, 1);
    assert.match(missingFile.err, /the file does not exist/);
    const usage = await cli("ssh-keyscan");
    assert.equal(usage.code, 2);
    assert.match(usage.err, /Usage: tailops ssh-keyscan TARGET\|HOST:PORT/);
    const help = await cli("ssh-keyscan", "--help");
    assert.equal(help.code, 0);
    assert.match(help.out, /host_key: SHA256/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
