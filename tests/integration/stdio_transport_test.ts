/**
 * The gateway over stdio, spawned by the official SDK's stdio client
 * transport exactly as desktop clients start it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkObserveGateway } from "./_mcp_checks.ts";
import {
  childEnv,
  GATEWAY_RUN,
  readAudit,
  REPO_DIR,
  startStdioGateway,
  tempDirWith,
} from "./_gateway.ts";

Deno.test("the default gateway over stdio serves the observe tools end to end", async (t) => {
  await using gateway = await startStdioGateway({ env: { USER: "tailops-test" } });
  assert.equal(gateway.client.getServerVersion()?.name, "tailops");
  await checkObserveGateway(t, {
    client: gateway.client,
    auditFile: gateway.auditFile,
    // The stdio caller is the local OS user.
    identity: (subject) => subject === "local:tailops-test",
    stop: () => gateway.stop(),
  });
  // Stdout carried only protocol: every stderr line is a JSON log record or Deno's own note.
  for (const line of gateway.stderr().split("\n").filter((l) => l.startsWith("{"))) {
    assert.doesNotThrow(() => JSON.parse(line), line);
  }
});

Deno.test("serve over stdio starts when USER and LOGNAME are unset (systemd units, containers)", async () => {
  const env = { USER: null, LOGNAME: null };
  await using gateway = await startStdioGateway({ env });
  const { tools } = await gateway.client.listTools();
  assert.ok(tools.length > 0);
});

Deno.test("the stdio gateway exits when its client closes stdin", async () => {
  const dir = await tempDirWith();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...GATEWAY_RUN, "serve", "--transport", "stdio", "--state-dir", `${dir}/state`],
    cwd: REPO_DIR,
    clearEnv: true,
    env: childEnv({ USER: "tailops-test" }),
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    // Wait until it serves, then hang up the way a desktop client does when it quits.
    const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let stderr = "";
    while (!stderr.includes("Serving MCP over stdio")) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`The gateway exited early:\n${stderr}`);
      stderr += value;
    }
    const drained = (async () => {
      while (!(await reader.read()).done) { /* drain */ }
    })();
    await child.stdin.close();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const exited = await Promise.race([
      child.status.then((status) => status.code),
      new Promise<"running">((resolve) => timer = setTimeout(() => resolve("running"), 3_000)),
    ]);
    clearTimeout(timer);
    assert.equal(exited, 0, "the gateway exits 0 within 3 s of stdin closing");
    await drained;
    const records = await readAudit(`${dir}/state/audit.jsonl`);
    // `stopped`, then the audit log's final signed checkpoint.
    assert.deepEqual(records.slice(-2).map((r) => r.event), ["stopped", "checkpoint"]);
  } finally {
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await child.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
