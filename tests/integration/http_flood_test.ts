/**
 * Connection floods against the real gateway: thousands of idle and
 * slowloris connections from another loopback address (127.0.0.2, so the
 * per-peer cap applies to the attacker and not to the test's own client),
 * and a flood past the process's descriptor limit (the gateway started
 * under `prlimit`). An authenticated SDK client keeps getting answers,
 * `/healthz` answers and the process stays up.
 *
 * The flooder is a small Python program: Deno cannot choose a connection's
 * source address.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, type RunningGateway, startGateway } from "./_gateway.ts";

const FLOODER = `
import socket, sys, time
host, port, count, mode, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
socks, failed = [], 0
for i in range(count):
    s = socket.socket()
    try:
        s.bind(("127.0.0.2", 0))
        s.settimeout(2)
        s.connect((host, port))
        if mode == "slow":
            s.send(b"POST /mcp HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")
        socks.append(s)
    except OSError:
        failed += 1
        s.close()
print("ready", len(socks), failed, flush=True)
end = time.time() + hold
while time.time() < end:
    if mode == "slow":
        for s in socks:
            try:
                s.send(b"X-Drip: 1\\r\\n")
            except OSError:
                pass
    time.sleep(0.5)
closed = 0
for s in socks:
    s.settimeout(0.01)
    try:
        if s.recv(1) == b"":
            closed += 1
    except socket.timeout:
        pass
    except OSError:
        closed += 1
print("closed", closed, flush=True)
`;

/** Runs the flooder; resolves with its output once it printed "ready". */
function flood(port: number, count: number, mode: "idle" | "slow", holdSeconds: number) {
  const child = new Deno.Command("python3", {
    args: ["-c", FLOODER, "127.0.0.1", String(port), String(count), mode, String(holdSeconds)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const output = child.output().then((out) => new TextDecoder().decode(out.stdout));
  return { child, output };
}

async function metric(gateway: RunningGateway, name: string): Promise<number> {
  const text = await (await fetch(new URL("/metrics", gateway.url), {
    headers: { Authorization: `Bearer ${gateway.token}` },
  })).text();
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

async function stillServes(gateway: RunningGateway): Promise<void> {
  const health = await fetch(new URL("/healthz", gateway.url));
  assert.equal(health.status, 200);
  await health.body?.cancel();
  const client = await connectHttp(gateway);
  try {
    const tools = await client.listTools();
    assert.ok(tools.tools.some((t) => t.name === "system_status"));
    const result = await client.callTool({
      name: "system_status",
      arguments: { target: "local" },
    });
    assert.notEqual(result.isError, true, JSON.stringify(result));
  } finally {
    await client.close();
  }
}

Deno.test("idle and slowloris floods past the per-peer cap are refused and timed out while a client keeps working", async () => {
  await using gateway = await startGateway({
    flags: ["--max-connections-per-peer", "200", "--headers-timeout", "2s"],
  });
  const idle = flood(gateway.port, 1500, "idle", 8);
  const slow = flood(gateway.port, 1500, "slow", 8);
  // While both floods hold their connections, the test's own client works.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  await stillServes(gateway);
  assert.ok(await metric(gateway, "tailops_http_connections_refused") > 0);
  assert.ok(await metric(gateway, "tailops_http_connections") <= 200 + 5);
  const [idleOut, slowOut] = await Promise.all([idle.output, slow.output]);
  // Refused at once or closed by the headers deadline: nearly all are gone
  // by the end (a few may just have been admitted from the accept queue).
  const closedIdle = Number(/closed (\d+)/.exec(idleOut)?.[1]);
  const closedSlow = Number(/closed (\d+)/.exec(slowOut)?.[1]);
  assert.ok(closedIdle + closedSlow >= 2700, `${idleOut} ${slowOut}`);
  await stillServes(gateway);
  assert.ok(await metric(gateway, "tailops_http_connections") <= 205);
});

Deno.test("a flood past the descriptor limit never stops the gateway: it recovers and keeps answering", async () => {
  await using gateway = await startGateway({
    prefix: ["prlimit", "--nofile=200:200"],
    flags: [
      "--max-connections",
      "100000",
      "--max-connections-per-peer",
      "100000",
      "--fd-reserve",
      "0",
      "--headers-timeout",
      "2s",
    ],
  });
  const idle = flood(gateway.port, 3000, "idle", 4);
  const out = await idle.output;
  assert.match(out, /ready/);
  // The process is still there and, once the flood is gone, answers again.
  const deadline = Date.now() + 30_000;
  while (true) {
    try {
      await stillServes(gateway);
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  assert.match(gateway.stderr(), /Accepting a connection failed/);
});

Deno.test("a peer at its connection cap keeps getting answers: its longest-idle connection gives way to the new one", async () => {
  await using gateway = await startGateway({ flags: ["--max-connections-per-peer", "4"] });
  // Four kept-alive connections, each answered once and then left idle, oldest first.
  const idle: Deno.TcpConn[] = [];
  for (let i = 0; i < 4; i++) {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: gateway.port });
    await conn.write(new TextEncoder().encode(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
    // Read the whole answer (headers and body may come in two reads).
    const answer = new Uint8Array(4096);
    let text = "";
    while (!text.includes('{"status":"ok"}')) {
      const n = await conn.read(answer);
      assert.ok(n !== null, `closed early after ${JSON.stringify(text)}`);
      text += new TextDecoder().decode(answer.subarray(0, n));
    }
    idle.push(conn);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // A fifth connection from the same address is served, not refused.
  const health = await fetch(new URL("/healthz", gateway.url));
  assert.equal(health.status, 200);
  await health.body?.cancel();
  // The oldest idle one was closed for it (the read sees the end), the newest still open.
  assert.equal(await idle[0].read(new Uint8Array(16)), null);
  // At least that one (the metrics request may open a connection and shed another).
  assert.ok(await metric(gateway, "tailops_http_connections_refused") >= 1);
  for (const conn of idle) conn.close();
});
