/**
 * The HTTP transport's guards, against the real gateway process: Host and
 * Origin checks, body limit, authentication, sessions, and `--no-auth`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, gatewayLines, runCli, startGateway } from "./_gateway.ts";

const INITIALIZE = {
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "guard-test", version: "0.0.0" },
  },
};

const MCP_HEADERS = {
  "content-type": "application/json",
  accept: "application/json, text/event-stream",
};

/**
 * Sends one raw HTTP/1.1 request over TCP, so the Host header is exactly ours
 * (fetch replaces it).
 */
async function rawRequest(
  port: number,
  lines: string[],
  body = "",
): Promise<{ status: number; text: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const length = body ? [`Content-Length: ${new TextEncoder().encode(body).length}`] : [];
    const request = [...lines, ...length, "Connection: close", "", body].join("\r\n");
    await conn.write(new TextEncoder().encode(request));
    let text = "";
    const decoder = new TextDecoder();
    const buffer = new Uint8Array(16 * 1024);
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += decoder.decode(buffer.subarray(0, n), { stream: true });
    }
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    return { status, text };
  } finally {
    conn.close();
  }
}

Deno.test("the HTTP gateway guards /mcp with Host/Origin checks, a body limit and bearer auth", async (t) => {
  await using gateway = await startGateway();
  const { port, url } = gateway;
  const auth = { authorization: `Bearer ${gateway.token}` };

  await t.step("/metrics needs a token and then serves Prometheus text", async () => {
    const refused = await fetch(`http://127.0.0.1:${port}/metrics`);
    await refused.body?.cancel();
    assert.equal(refused.status, 401);
    const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: auth });
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await metrics.text();
    assert.match(text, /^tailops_sessions \d+$/m);
    assert.match(text, /^tailops_audit_failed 0$/m);
  });

  await t.step("/healthz answers 200 without a token", async () => {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: "ok" });
  });

  await t.step(
    "a request without a token gets 401 saying a bearer token is required and how to mint one",
    async () => {
      const response = await fetch(url, {
        method: "POST",
        headers: MCP_HEADERS,
        body: JSON.stringify(INITIALIZE),
      });
      assert.equal(response.status, 401);
      const challenge = response.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /^Bearer realm="tailops", scope="/);
      // No authorization server is configured: nothing to point OAuth clients at.
      assert.doesNotMatch(challenge, /resource_metadata/);
      const body = await response.json();
      assert.equal(body.error, "invalid_request");
      assert.match(body.error_description, /^A bearer token is required: /);
      assert.match(body.error_description, /tailops token mint --sub NAME --role ROLE --ttl 8h/);
    },
  );

  await t.step(
    "without an authorization server, /.well-known/oauth-protected-resource is not served (no empty authorization_servers)",
    async () => {
      for (const path of ["", "/mcp"]) {
        const response = await fetch(
          `http://127.0.0.1:${port}/.well-known/oauth-protected-resource${path}`,
        );
        assert.equal(response.status, 404);
        assert.doesNotMatch(await response.text(), /authorization_servers/);
      }
      // Nor does the gateway pose as an authorization server itself.
      for (const path of ["oauth-authorization-server", "openid-configuration"]) {
        const response = await fetch(`http://127.0.0.1:${port}/.well-known/${path}`);
        assert.equal(response.status, 404);
        await response.body?.cancel();
      }
    },
  );

  await t.step("a wrong token gets 401", async () => {
    for (const token of ["not-the-token", `${gateway.token}x`, ""]) {
      const response = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` },
        body: JSON.stringify(INITIALIZE),
      });
      assert.equal(response.status, 401, `token ${JSON.stringify(token)}`);
      await response.body?.cancel();
    }
  });

  await t.step(
    "a Host header that is not this gateway's gets 403, even with the token",
    async () => {
      for (
        const host of ["evil.example", `evil.example:${port}`, "127.0.0.1", `127.0.0.1:${port + 1}`]
      ) {
        const { status, text } = await rawRequest(port, [
          "POST /mcp HTTP/1.1",
          `Host: ${host}`,
          `Authorization: Bearer ${gateway.token}`,
          "Content-Type: application/json",
          "Accept: application/json, text/event-stream",
        ], JSON.stringify(INITIALIZE));
        assert.equal(status, 403, `Host ${host}: ${text}`);
      }
      // The same raw request with the gateway's own Host passes the guard (then needs a token).
      const control = await rawRequest(port, ["GET /mcp HTTP/1.1", `Host: 127.0.0.1:${port}`]);
      assert.equal(control.status, 401, control.text);
      const localhost = await rawRequest(port, ["GET /mcp HTTP/1.1", `Host: localhost:${port}`]);
      assert.equal(localhost.status, 401, localhost.text);
    },
  );

  await t.step("a foreign Origin gets 403, the gateway's own origin passes", async () => {
    for (const origin of ["http://evil.example", `http://evil.example:${port}`, "null"]) {
      const response = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...auth, origin },
        body: JSON.stringify(INITIALIZE),
      });
      assert.equal(response.status, 403, origin);
      await response.body?.cancel();
    }
    const own = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth, origin: `http://127.0.0.1:${port}` },
      body: JSON.stringify(INITIALIZE),
    });
    assert.equal(own.status, 200);
    await own.body?.cancel();
  });

  await t.step(
    "a 2 MB body gets 413 with a JSON-RPC error, with or without Content-Length",
    async () => {
      const big = JSON.stringify({ ...INITIALIZE, padding: "x".repeat(2 * 1024 * 1024) });
      const sized = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...auth },
        body: big,
      });
      assert.equal(sized.status, 413);
      const error = await sized.json();
      assert.equal(error.jsonrpc, "2.0");
      assert.equal(typeof error.error.code, "number");

      const bytes = new TextEncoder().encode(big);
      const chunked = await fetch(url, {
        method: "POST",
        headers: { ...MCP_HEADERS, ...auth },
        body: new ReadableStream({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 64 * 1024) {
              controller.enqueue(bytes.subarray(i, i + 64 * 1024));
            }
            controller.close();
          },
        }),
      });
      assert.equal(chunked.status, 413);
      await chunked.body?.cancel();
    },
  );

  await t.step("a malformed JSON-RPC body gets 400 with a JSON-RPC parse error", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth },
      body: '{"jsonrpc": "2.0", "id": 1, "method": ',
    });
    assert.equal(response.status, 400);
    const body = await response.json();
    assert.equal(body.jsonrpc, "2.0");
    assert.equal(body.error.code, -32700);
    assert.equal(body.id, null);
  });

  await t.step("a request without a session that is not initialize gets 400", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    assert.equal(response.status, 400);
    assert.equal((await response.json()).jsonrpc, "2.0");
  });

  await t.step("an unknown session id gets 404", async () => {
    const response = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth, "mcp-session-id": crypto.randomUUID() },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    assert.equal(response.status, 404);
    assert.equal((await response.json()).error.code, -32001);
  });

  await t.step("a real session needs the token on every request", async () => {
    const init = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, ...auth },
      body: JSON.stringify(INITIALIZE),
    });
    assert.equal(init.status, 200);
    const session = init.headers.get("mcp-session-id");
    assert.match(session ?? "", /^[0-9a-f-]{36}$/);
    await init.body?.cancel();
    const anonymous = await fetch(url, {
      method: "POST",
      headers: { ...MCP_HEADERS, "mcp-session-id": session! },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    assert.equal(anonymous.status, 401);
    await anonymous.body?.cancel();
  });

  await t.step("the SDK client still works after all of that", async () => {
    const client = await connectHttp(gateway);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === "system_status"));
    } finally {
      await client.close();
    }
  });
});

Deno.test("serve refuses --no-auth on a non-loopback address with one clear line", async () => {
  const run = await runCli(["serve", "--transport", "http", "--listen", "0.0.0.0:0", "--no-auth"], {
    env: { TAILOPS_STATE_DIR: "/nonexistent/never-created" },
  });
  assert.notEqual(run.code, 0);
  assert.equal(run.stdout, "");
  assert.deepEqual(run.ownStderr, [
    "tailops: Refusing --no-auth on 0.0.0.0: expected a loopback listen address such as 127.0.0.1",
  ]);
});

Deno.test("serve --no-auth on loopback serves /mcp without a token", async () => {
  await using gateway = await startGateway({ flags: ["--no-auth"] });
  assert.equal(gateway.token, undefined);
  assert.ok(
    gatewayLines(gateway.stderr()).some((line) => line.includes("Authentication is OFF")),
    "the gateway warns that authentication is off",
  );
  const client = await connectHttp(gateway, undefined);
  try {
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === "system_status"));
  } finally {
    await client.close();
  }
  // The Host guard stays on without auth.
  const { status } = await rawRequest(gateway.port, ["GET /mcp HTTP/1.1", "Host: evil.example"]);
  assert.equal(status, 403);
});
