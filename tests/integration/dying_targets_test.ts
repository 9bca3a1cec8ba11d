/**
 * Targets that die or misbehave under a call, through the real gateway
 * process: an HTTP API that resets or cuts its connection (several forms),
 * a Docker engine killed while it handles a call, an sshd killed while its
 * command runs. Each call answers one clear line with a stable code (never
 * `internal`), its `finished` record is written, and the gateway keeps
 * serving that target once it is back and every other target meanwhile.
 *
 * @module
 */
import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { type AuditLine, connectHttp, readAudit, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call, type Called } from "./_mcp_checks.ts";
import { startFleet } from "./_fleet.ts";

/** Polls what a real process shows (not a timing assertion: 60 s cap). */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Gave up waiting for ${what}`);
}

/** Codes a dead or misbehaving target may give; `internal` is not one of them. */
const TARGET_FAILURES = ["unreachable", "bad_response", "timeout"];

function assertClearFailure(result: Called, what: string): string {
  assert.equal(result.results.length, 1, `${what}: ${result.text}`);
  const entry = result.results[0];
  assert.notEqual(entry.status, "ok", `${what}: ${result.text}`);
  const code = entry.error?.code ?? "";
  assert.ok(TARGET_FAILURES.includes(code), `${what}: code ${code}: ${result.text}`);
  const message = entry.error!.message;
  assert.equal(message.split("\n").length, 1, `${what}: one line, found ${message}`);
  assert.doesNotMatch(message, /\bat .*\.ts:\d+|Error:|ECONN|EPIPE/, `${what}: ${message}`);
  return code;
}

/** Every call the audit saw was decided and finished. */
function assertEveryCallFinished(records: AuditLine[]): void {
  const decided = records.filter((r) => r.event === "decided").map((r) => r.call);
  const finished = new Set(records.filter((r) => r.event === "finished").map((r) => r.call));
  assert.ok(decided.length > 0);
  for (const id of decided) assert.ok(finished.has(id), `call ${id} has no finished record`);
}

function assertNoInternal(stderr: string): void {
  assert.doesNotMatch(stderr, /failed while handling this call|"level":"FATAL"/);
}

/** How the misbehaving API treats a request, by path. */
const HTTP_FORMS = {
  "/reset": "reads the start of the request and closes with data unread (a TCP reset)",
  "/silent": "reads the request and closes without a byte of answer",
  "/cut": "sends the head and 5 of 1000 body bytes, then closes",
  "/garbage": "answers with a line that is not HTTP",
  "/ok": "answers 200 with JSON",
} as const;

/** A raw TCP server on loopback that answers as {@linkcode HTTP_FORMS} says. */
function misbehavingApi() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const encoder = new TextEncoder();
  const serve = async (conn: Deno.Conn) => {
    try {
      // The request line's first bytes name the path: "GET /reset HTTP/1.1".
      const start = new Uint8Array(11);
      let got = 0;
      while (got < start.length) {
        const n = await conn.read(start.subarray(got));
        if (n === null) return;
        got += n;
      }
      const line = new TextDecoder().decode(start);
      if (line.includes("/reset")) return; // close with the rest unread: RST
      let head = line;
      const buffer = new Uint8Array(4096);
      while (!head.includes("\r\n\r\n")) {
        const n = await conn.read(buffer);
        if (n === null) return;
        head += new TextDecoder().decode(buffer.subarray(0, n));
      }
      if (head.includes("/silent")) return;
      if (head.includes("/cut")) {
        await conn.write(encoder.encode(
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n[1,2",
        ));
        return;
      }
      if (head.includes("/garbage")) {
        await conn.write(encoder.encode("SSH-2.0-OpenSSH_9.2 not http at all\r\n\r\n"));
        return;
      }
      const body = '{"ok":true}';
      await conn.write(encoder.encode(
        `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      ));
    } catch {
      // The client went away.
    } finally {
      try {
        conn.close();
      } catch {
        // Closed.
      }
    }
  };
  const accepting = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async [Symbol.asyncDispose]() {
      listener.close();
      await accepting;
    },
  };
}

Deno.test("an HTTP target that resets, goes silent, cuts its body or answers garbage gets one clear line per call, and the gateway serves on", async () => {
  await using api = misbehavingApi();
  await using gateway = await startGateway({
    targets: [
      "targets:",
      "  - id: api",
      "    type: http",
      "    capabilities: [http:read]",
      "    constraints: { timeout_ms: 20000 }",
      "    connection:",
      `      base_url: http://127.0.0.1:${api.port}`,
      "      methods: [GET]",
      `      paths: [${Object.keys(HTTP_FORMS).map((p) => JSON.stringify(p)).join(", ")}]`,
    ].join("\n"),
  });
  const client = await connectHttp(gateway);
  for (let round = 0; round < 3; round++) {
    for (const [path, form] of Object.entries(HTTP_FORMS)) {
      const result = await call(client, "http_request", { target: "api", path });
      if (path === "/ok") {
        assert.equal(result.results[0].status, "ok", `round ${round}, ${form}: ${result.text}`);
        continue;
      }
      assertClearFailure(result, `round ${round}, an API that ${form}`);
    }
  }
  assertEveryCallFinished(await readAudit(gateway.auditFile));
  assertNoInternal(gateway.stderr());
});

Deno.test({
  name:
    "a Docker engine killed while it handles a call gives that call unreachable, other targets keep working, and the engine works again once restarted",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const docker = await DockerdTestbed.start();
    try {
      // A container that says when it got SIGTERM and ignores it: its stop
      // holds the engine's answer for the whole stop timeout.
      await docker.runContainer("stubborn", {
        command: ["sh", "-c", "trap 'echo got-term' TERM; while :; do sleep 1; done"],
      });
      await using gateway = await startGateway({
        policy: ALLOW_ALL_POLICY,
        targets: [
          "targets:",
          "  - id: local",
          "    type: local",
          "    capabilities: [system:read]",
          "  - id: engine",
          "    type: docker",
          "    capabilities: [container:read, container:control]",
          "    constraints: { timeout_ms: 120000 }",
          `    connection: { socket: ${docker.socket} }`,
        ].join("\n"),
      });
      const client = await connectHttp(gateway);
      const listed = await call(client, "container_list", { target: "engine" });
      assert.equal(listed.results[0].status, "ok", listed.text);

      const stopping = call(client, "container_control", {
        target: "engine",
        container: "stubborn",
        action: "stop",
        timeout_s: 90,
      });
      // The engine has sent SIGTERM and waits: the call is inside dockerd now.
      await until(
        "the container to get SIGTERM",
        async () => (await docker.docker("logs", "stubborn").catch(() => "")).includes("got-term"),
      );
      await docker.stopDaemon({ signal: "SIGKILL" });
      assert.equal(
        assertClearFailure(await stopping, "a stop under a killed engine"),
        "unreachable",
      );

      const local = await call(client, "system_status", { target: "local" });
      assert.equal(local.results[0].status, "ok", local.text);
      assertClearFailure(
        await call(client, "container_list", { target: "engine" }),
        "a list while the engine is down",
      );
      await docker.startDaemon();
      const again = await call(client, "container_list", { target: "engine" });
      assert.equal(again.results[0].status, "ok", again.text);
      assertEveryCallFinished(await readAudit(gateway.auditFile));
      assertNoInternal(gateway.stderr());
    } finally {
      await docker.close();
    }
  },
});

/** An operator operation that holds an SSH call open: a sleep the test can find. */
const HOLD_OP = `version: 1
name: hold
title: Hold the call
description: Sleeps so that the test can kill the host under the call.
target_types: [ssh]
capability: system:read
mutates: false
steps:
  - program: sleep
    args: ["37.125"]
`;

async function holdRunning(): Promise<boolean> {
  const found = await new Deno.Command("pgrep", {
    args: ["-f", "^sleep 37\\.125$"],
    stdout: "null",
    stderr: "null",
  }).output();
  return found.success;
}

Deno.test({
  name:
    "an sshd killed while its command runs gives that call unreachable, the other host keeps working, and the host works again once sshd is back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ops = await tempDirWith({ "hold.yaml": HOLD_OP });
    const fleet = await startFleet({
      instances: 2,
      targets: () => [
        { id: "web-1", instance: 0, capabilities: ["system:read"] },
        { id: "web-2", instance: 1, capabilities: ["system:read"] },
      ],
      policy: ALLOW_ALL_POLICY,
      env: { TAILOPS_OPERATIONS: ops },
    });
    try {
      const client = fleet.client;
      const before = await call(client, "system_status", { target: "web-1" });
      assert.equal(before.results[0].status, "ok", before.text);
      const holding = call(client, "hold", { target: "web-1" });
      await until("the held command to run", holdRunning);
      await fleet.testbed.kill(fleet.instanceIndex("web-1"));
      const lost = await holding;
      assert.equal(assertClearFailure(lost, "a command under a killed sshd"), "unreachable");
      assert.match(lost.results[0].error!.message, /lost while the command ran/);

      const other = await call(client, "system_status", { target: "web-2" });
      assert.equal(other.results[0].status, "ok", other.text);
      assertClearFailure(
        await call(client, "system_status", { target: "web-1" }),
        "a call while sshd is down",
      );
      await fleet.testbed.restart(fleet.instanceIndex("web-1"));
      const again = await call(client, "system_status", { target: "web-1" });
      assert.equal(again.results[0].status, "ok", again.text);
      assertEveryCallFinished(await readAudit(fleet.gateway.auditFile));
      assertNoInternal(fleet.gateway.stderr());
    } finally {
      await fleet.close();
      await Deno.remove(ops, { recursive: true }).catch(() => {});
    }
  },
});
