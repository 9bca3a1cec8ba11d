/**
 * The gateway over stdio, spawned by the official SDK's stdio client
 * transport exactly as desktop clients start it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { checkObserveGateway } from "./_mcp_checks.ts";
import { startStdioGateway } from "./_gateway.ts";

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
