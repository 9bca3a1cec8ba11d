/**
 * Sessions through the real gateway: identity is resolved per request on an
 * open session (a weaker or revoked token takes effect at once, another
 * subject is refused), sessions are capped per identity without evicting
 * anyone else's, and idle sessions are reaped.
 *
 * @module
 */
import assert from "node:assert/strict";
import { authGateway, ROLES_YAML } from "./_auth_gateway.ts";
import { connectHttp, startGateway } from "./_gateway.ts";

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control",
  "    tiers: [control]",
  "identities:",
  ROLES_YAML,
].join("\n");

/** One JSON-RPC POST on a session; answers JSON or a one-event SSE stream. */
async function rpc(
  url: URL,
  options: { token: string; session?: string; method: string; params?: unknown; id?: number },
): Promise<{ status: number; session: string | null; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    Authorization: `Bearer ${options.token}`,
    "MCP-Protocol-Version": "2025-06-18",
  };
  if (options.session) headers["mcp-session-id"] = options.session;
  const message = options.id === undefined
    ? { jsonrpc: "2.0", method: options.method, params: options.params }
    : { jsonrpc: "2.0", id: options.id, method: options.method, params: options.params ?? {} };
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(message) });
  const text = await response.text();
  const data = text.split("\n").find((line) => line.startsWith("data: "));
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(data ? data.slice(6) : text || "{}");
  } catch {
    body = { raw: text };
  }
  return { status: response.status, session: response.headers.get("mcp-session-id"), body };
}

async function openSession(url: URL, token: string): Promise<string> {
  const init = await rpc(url, {
    token,
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "raw", version: "0" },
    },
  });
  assert.equal(init.status, 200, JSON.stringify(init.body));
  assert.ok(init.session);
  const done = await rpc(url, {
    token,
    session: init.session,
    method: "notifications/initialized",
  });
  assert.equal(done.status, 202);
  return init.session;
}

function toolNamesOf(body: Record<string, unknown>): string[] {
  const result = body.result as { tools?: { name: string }[] } | undefined;
  return (result?.tools ?? []).map((t) => t.name);
}

Deno.test("an open HTTP session follows the token of each request: weaker, revoked or another subject's", async (t) => {
  await using gw = await authGateway(POLICY);
  await gw.start();
  const operator = await gw.mint("dana", "operator");
  const viewer = await gw.mint("dana", "viewer");
  const other = await gw.mint("erin", "operator");
  const session = await openSession(gw.url, operator.token);

  await t.step("the opening token sees and may call the control tools", async () => {
    const list = await rpc(gw.url, { token: operator.token, session, id: 2, method: "tools/list" });
    assert.ok(toolNamesOf(list.body).includes("service_control"));
  });

  await t.step(
    "a weaker token of the same subject sees fewer tools and cannot call the hidden one",
    async () => {
      const list = await rpc(gw.url, { token: viewer.token, session, id: 3, method: "tools/list" });
      const names = toolNamesOf(list.body);
      assert.ok(names.includes("read_file") && !names.includes("service_control"), names.join());
      const called = await rpc(gw.url, {
        token: viewer.token,
        session,
        id: 4,
        method: "tools/call",
        params: {
          name: "service_control",
          arguments: { target: "local", unit: "nginx", action: "restart", dry_run: true },
        },
      });
      const notFound = (name: string) => ({
        code: -32602,
        message: `Tool "${name}" not found: tools/list shows the tools you can call`,
      });
      assert.deepEqual(called.body.error, notFound("service_control"));
      // Not even its argument check runs: it looks exactly like an unknown tool.
      const bad = await rpc(gw.url, {
        token: viewer.token,
        session,
        id: 5,
        method: "tools/call",
        params: { name: "service_control", arguments: { nonsense: 1 } },
      });
      assert.deepEqual(bad.body.error, notFound("service_control"));
      const unknown = await rpc(gw.url, {
        token: viewer.token,
        session,
        id: 51,
        method: "tools/call",
        params: { name: "no_such_tool", arguments: { nonsense: 1 } },
      });
      assert.deepEqual(unknown.body.error, notFound("no_such_tool"));
    },
  );

  await t.step("a token of another subject is refused on the session (hijack)", async () => {
    const list = await rpc(gw.url, { token: other.token, session, id: 6, method: "tools/list" });
    assert.equal(list.status, 403);
    assert.deepEqual(toolNamesOf(list.body), []);
  });

  await t.step(
    "after revoking the opening token its next request on the session is refused",
    async () => {
      const revoked = await gw.cli(["token", "revoke", operator.jti]);
      assert.equal(revoked.code, 0, revoked.stderr);
      const list = await rpc(gw.url, {
        token: operator.token,
        session,
        id: 7,
        method: "tools/list",
      });
      assert.equal(list.status, 401);
      // The weaker token still works on the same session, with its own tools only.
      const still = await rpc(gw.url, {
        token: viewer.token,
        session,
        id: 8,
        method: "tools/list",
      });
      assert.ok(!toolNamesOf(still.body).includes("service_control"));
    },
  );
});

Deno.test("one identity cannot take every session: its extra ones are refused and nobody is evicted", async () => {
  await using gw = await authGateway(POLICY);
  await gw.start(["--max-sessions-per-identity", "3"]);
  const a = await gw.mint("alpha", "viewer");
  const b = await gw.mint("bravo", "viewer");
  const bSession = await openSession(gw.url, b.token);
  const aSessions = [];
  for (let i = 0; i < 3; i++) aSessions.push(await openSession(gw.url, a.token));
  for (let i = 0; i < 5; i++) {
    const refused = await rpc(gw.url, {
      token: a.token,
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "0" },
      },
    });
    assert.equal(refused.status, 429);
    assert.match(JSON.stringify(refused.body), /Too many sessions: token:alpha already holds 3/);
  }
  // Every session still works, B's and A's alike.
  for (const [token, session] of [[b.token, bSession], ...aSessions.map((s) => [a.token, s])]) {
    const list = await rpc(gw.url, { token, session, id: 9, method: "tools/list" });
    assert.equal(list.status, 200);
    assert.ok(toolNamesOf(list.body).includes("read_file"));
  }
  // B may still open more.
  await openSession(gw.url, b.token);
});

Deno.test("sessions whose client vanished without DELETE are reaped after the idle time", async () => {
  await using gateway = await startGateway({ flags: ["--session-idle-timeout", "1s"] });
  const client = await connectHttp(gateway);
  await client.listTools();
  // A plain SDK close: the event stream drops, no DELETE is sent.
  await client.close();
  const token = gateway.token!;
  const session = await openSession(gateway.url, token);
  const deadline = Date.now() + 30_000;
  let metrics = "";
  while (Date.now() < deadline) {
    metrics = await (await fetch(new URL("/metrics", gateway.url), {
      headers: { Authorization: `Bearer ${token}` },
    })).text();
    if (/^tailops_sessions 0$/m.test(metrics)) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.match(metrics, /^tailops_sessions 0$/m);
  const gone = await rpc(gateway.url, { token, session, id: 2, method: "tools/list" });
  assert.equal(gone.status, 404);
  // A fresh session works.
  const again = await connectHttp(gateway);
  assert.ok((await again.listTools()).tools.length > 0);
  await again.close();
});
