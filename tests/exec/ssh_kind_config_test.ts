import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { SshTarget } from "../../src/config/targets_schema.ts";
import { SSH_KIND, type SshWorkerConfig } from "../../src/exec/ssh_kind.ts";

/** The registry lines of an ssh target on 127.0.0.1 with these connection lines. */
function sshTarget(id: string, connection: readonly string[]): string[] {
  return [
    `  - id: ${id}`,
    "    type: ssh",
    "    capabilities: [system:read]",
    "    connection:",
    "      host: 127.0.0.1",
    "      user: ops",
    ...connection.map((line) => `      ${line}`),
  ];
}

Deno.test("the ssh worker's configuration carries a known_hosts file once, however many targets name it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tailops-ssh-kind-" });
  try {
    const shared = `${dir}/known_hosts`;
    const other = `${dir}/other_known_hosts`;
    await Deno.writeTextFile(shared, "# fleet\n");
    await Deno.writeTextFile(other, "# lab\n");
    const target = (id: string, file: string) =>
      sshTarget(id, ['password: "${PW}"', `known_hosts: ${JSON.stringify(file)}`]);
    const yaml = [
      "version: 1",
      "targets:",
      ...target("a", shared),
      ...target("b", shared),
      ...target("c", other),
      ...target("d", `${dir}/missing`),
      ...target("e", `${dir}/missing`),
    ].join("\n");
    const registry = await parseTargets(yaml, "targets.yaml", {
      checkReferences: false,
      secrets: { env: () => "not-a-real-password", readFile: (path) => Deno.readTextFile(path) },
    });
    const config = SSH_KIND.config(
      ["a", "b", "c", "d", "e"].map((id) => registry.get(id) as SshTarget),
      { programs: [] },
    ) as SshWorkerConfig;
    // A message keeps object identity, so the shared file crosses to the worker once.
    const [a, b, c, d, e] = structuredClone(config).targets;
    assert.equal(a.knownHostsFile, b.knownHostsFile);
    assert.equal(a.knownHostsFile?.text, "# fleet\n");
    assert.notEqual(a.knownHostsFile, c.knownHostsFile);
    assert.equal(c.knownHostsFile?.text, "# lab\n");
    assert.equal(d.knownHostsFile, e.knownHostsFile);
    assert.match(d.knownHostsFile?.error ?? "", /Cannot read known_hosts file/);
    assert.equal(d.knownHostsFile?.text, undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the ssh worker's configuration carries a private key once, however many targets use it", async () => {
  const target = (id: string, key: string) =>
    sshTarget(id, [
      `key: "\${${key}}"`,
      "host_key: SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ]);
  const yaml = ["version: 1", "targets:", ...target("a", "FLEET"), ...target("b", "FLEET")]
    .concat(target("c", "LAB")).join("\n");
  const keys: Record<string, string> = { FLEET: "fleet key text", LAB: "lab key text" };
  const registry = await parseTargets(yaml, "targets.yaml", {
    checkReferences: false,
    secrets: { env: (name) => keys[name], readFile: (path) => Deno.readTextFile(path) },
  });
  const config = SSH_KIND.config(
    ["a", "b", "c"].map((id) => registry.get(id) as SshTarget),
    { programs: [] },
  ) as SshWorkerConfig;
  const [a, b, c] = structuredClone(config).targets;
  assert.equal(a.privateKey, b.privateKey);
  assert.equal(a.privateKey?.text, "fleet key text");
  assert.notEqual(a.privateKey, c.privateKey);
  assert.equal(c.privateKey?.text, "lab key text");
});
