/**
 * Signals through the real gateway process: SIGTERM and SIGINT let calls in
 * flight finish within the grace period (or cut them with a clear answer),
 * write `stopped` and exit 0; SIGHUP is ignored. A slow HTTP target in this
 * process holds a call in flight until the test lets it go.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type AuditLine, connectHttp, readAudit, startGateway } from "./_gateway.ts";
import { call } from "./_mcp_checks.ts";
import { startRawStdio } from "./_raw_stdio.ts";
import { exitOf, slowApi, slowApiTargets as targets } from "./_slow_api.ts";

/** Polls a condition on output the gateway writes (not a timing assertion: 60 s cap). */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 600 && !condition(); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (!condition()) throw new Error(`Gave up waiting for ${what}`);
}

function assertStoppedAfterFinished(
  records: AuditLine[],
  expected: { status: string; reason?: string },
): void {
  // The signed final checkpoint follows `stopped`.
  const last = records.filter((record) => record.event !== "checkpoint").at(-1)!;
  assert.equal(last.event, "stopped", JSON.stringify(records.slice(-3)));
  const finished = records.filter((r) => r.event === "finished");
  assert.equal(finished.length, 1);
  assert.equal(finished[0].status, expected.status);
  assert.equal(finished[0].reason, expected.reason);
  assert.ok(finished[0].seq < last.seq);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} over HTTP lets the call in flight finish, then writes stopped and exits 0`, async () => {
    await using api = slowApi();
    await using gateway = await startGateway({ targets: targets(api.port) });
    const client = await connectHttp(gateway);
    const pending = call(client, "http_request", { target: "api", path: "/slow" });
    await api.started;
    Deno.kill(gateway.pid, signal);
    // The process is still waiting for the call: let the target answer now.
    api.release();
    const result = await pending;
    assert.equal(result.results[0].status, "ok", result.text);
    const exit = await exitOf(gateway.stop());
    assert.equal(exit.code, 0, gateway.stderr());
    assertStoppedAfterFinished(await readAudit(gateway.auditFile), { status: "ok" });
  });
}

Deno.test("a call still running when the grace period ends gets a clear cancelled result before exit", async () => {
  await using api = slowApi();
  await using gateway = await startGateway({
    targets: targets(api.port),
    flags: ["--shutdown-grace", "1"],
  });
  const client = await connectHttp(gateway);
  const pending = call(client, "http_request", { target: "api", path: "/slow" });
  await api.started;
  Deno.kill(gateway.pid, "SIGTERM");
  // The target never answers; the gateway cuts the call and tells the client.
  const result = await pending;
  assert.equal(result.results[0].status, "cancelled", result.text);
  assert.match(result.text, /shutting down/);
  const exit = await exitOf(gateway.stop());
  assert.equal(exit.code, 0, gateway.stderr());
  // The audit log files a cut call as an error whose reason is `cancelled`.
  assertStoppedAfterFinished(await readAudit(gateway.auditFile), {
    status: "error",
    reason: "cancelled",
  });
});

Deno.test("SIGTERM over stdio finishes the call in flight, refuses new calls meanwhile, and exits 0", async () => {
  await using api = slowApi();
  await using gw = await startRawStdio({ targets: targets(api.port) });
  const pending = gw.client.callTool({
    name: "http_request",
    arguments: { target: "api", path: "/slow" },
  });
  await api.started;
  Deno.kill(gw.pid, "SIGTERM");
  await until(() => gw.stderr().includes("Received"), "the gateway to log the signal");
  // A new call while stopping gets a JSON-RPC error, not silence.
  await gw.write(
    '{"jsonrpc":"2.0","id":"late","method":"tools/call","params":{"name":"http_request","arguments":{"target":"api","path":"/slow"}}}\n',
  );
  const late = await gw.waitFor((m) => m.id === "late", "the late call's answer");
  const error = late.error as { code: number; message: string };
  assert.equal(error.code, -32000);
  assert.match(error.message, /shutting down/);
  api.release();
  const result = await pending;
  assert.notEqual(result.isError, true, JSON.stringify(result.content));
  const exit = await exitOf(gw.status);
  assert.equal(exit.code, 0, gw.stderr());
  assertStoppedAfterFinished(await readAudit(`${gw.stateDir}/audit.jsonl`), { status: "ok" });
});

Deno.test("SIGHUP is ignored with a log line: the gateway keeps serving on both transports", async () => {
  await using gw = await startRawStdio();
  Deno.kill(gw.pid, "SIGHUP");
  const status = await gw.client.callTool({
    name: "system_status",
    arguments: { target: "local" },
  });
  assert.notEqual(status.isError, true);
  await using gateway = await startGateway();
  Deno.kill(gateway.pid, "SIGHUP");
  const client = await connectHttp(gateway);
  const result = await call(client, "system_status", { target: "local" });
  assert.equal(result.results[0].status, "ok", result.text);
  for (const stderr of [gw.stderr(), gateway.stderr()]) {
    assert.match(stderr, /SIGHUP: ignored/);
  }
  const records = await readAudit(gateway.auditFile);
  assert.ok(!records.some((r) => r.event === "stopped"));
});
