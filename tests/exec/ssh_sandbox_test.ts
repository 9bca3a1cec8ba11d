import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import type { SshTarget } from "../../src/config/targets_schema.ts";
import { SSH_KIND } from "../../src/exec/ssh_kind.ts";

const PIN = `SHA256:${"A".repeat(43)}`;

function yaml(ports: number[], agent?: string): string {
  return [
    "version: 1",
    "targets:",
    ...ports.flatMap((port, i) => [
      `  - id: t${i}`,
      "    type: ssh",
      "    capabilities: [system:read]",
      "    connection:",
      "      host: 127.0.0.1",
      `      port: ${port}`,
      "      user: tailops-test",
      "      key: ${KEY}",
      `      host_key: ${PIN}`,
      ...(agent && i === 0 ? [`      agent: ${agent}`] : []),
    ]),
  ].join("\n");
}

async function sshTargets(text: string): Promise<SshTarget[]> {
  const registry = await parseTargets(text, "test.yaml", { resolveSecrets: false });
  return registry.targets.filter((t): t is SshTarget => t.type === "ssh");
}

Deno.test("SSH_KIND grants net for exactly the targets' host:port and nothing else", async () => {
  const targets = await sshTargets(yaml([22, 2222, 22]));
  assert.deepEqual(SSH_KIND.permissions(targets, { programs: [] }), {
    env: false,
    ffi: false,
    import: false,
    net: ["127.0.0.1:22", "127.0.0.1:2222"],
    read: false,
    run: false,
    sys: false,
    write: false,
  });
});

Deno.test("SSH_KIND adds read and write on a configured agent socket only", async () => {
  const targets = await sshTargets(yaml([22], "/run/user/0/agent.sock"));
  const permissions = SSH_KIND.permissions(targets, { programs: [] });
  assert.deepEqual([permissions.read, permissions.write], [["/run/user/0/agent.sock"], [
    "/run/user/0/agent.sock",
  ]]);
});

Deno.test("a worker with SSH_KIND's permissions cannot read, see env, run, write or reach other ports", async () => {
  const allowed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const other = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepting = (async () => {
    for await (const conn of allowed) conn.close();
  })().catch(() => {});
  const allowedPort = (allowed.addr as Deno.NetAddr).port;
  const targets = await sshTargets(yaml([allowedPort]));
  const worker = new Worker(new URL("./_ssh_sandbox_probe.ts", import.meta.url), {
    type: "module",
    deno: { permissions: SSH_KIND.permissions(targets, { programs: [] }) },
  });
  try {
    const results = await new Promise<Record<string, string>>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
      worker.postMessage({ allowed: allowedPort, other: (other.addr as Deno.NetAddr).port });
    });
    assert.deepEqual(results, {
      ssh2Loaded: "ok",
      read: "NotCapable",
      env: "NotCapable",
      run: "NotCapable",
      write: "NotCapable",
      connectOther: "NotCapable",
      connectAllowed: "ok",
    });
  } finally {
    worker.terminate();
    allowed.close();
    other.close();
    await accepting;
  }
});
