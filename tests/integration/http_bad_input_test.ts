/**
 * The HTTP transport answers the same malformed input as stdio with the same
 * precise errors: an oversized body is 413, a wrong envelope is a 400 with
 * one sentence, a wrong tools/call shape is -32602, and the session keeps
 * serving.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, readAudit, startGateway } from "./_gateway.ts";

type RpcError = { code: number; message: string };

Deno.test("malformed and oversized HTTP messages get precise JSON-RPC errors and the session keeps serving", async (t) => {
  await using gateway = await startGateway();
  const client = await connectHttp(gateway);
  const sessionId = (client.transport as unknown as { sessionId: string }).sessionId;
  assert.ok(sessionId);
  const post = (body: string) =>
    fetch(gateway.url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${gateway.token}`,
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-11-25",
      },
      body,
    });
  /** The JSON-RPC message of a response: plain JSON, or the first SSE `data:` line. */
  const answerOf = async (response: Response) => {
    const text = await response.text();
    if (!(response.headers.get("content-type") ?? "").includes("event-stream")) {
      return JSON.parse(text);
    }
    const data = text.split("\n").find((line) => line.startsWith("data: {"));
    assert.ok(data, text);
    return JSON.parse(data.slice(6));
  };
  const stillServes = async () => {
    const result = await client.callTool({
      name: "system_status",
      arguments: { target: "local" },
    });
    assert.notEqual(result.isError, true, JSON.stringify(result.content));
  };

  await t.step("a body over the limit is 413 with -32600, and the session goes on", async () => {
    const pad = "A".repeat(2 * 1024 * 1024);
    const response = await post(
      `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"system_status","arguments":{"pad":"${pad}"}}}`,
    );
    assert.equal(response.status, 413);
    assert.equal((await answerOf(response)).error.code, -32600);
    await stillServes();
  });

  await t.step("wrong envelopes are 400 with one sentence", async () => {
    const cases: [string, number, RegExp][] = [
      ["not json", -32700, /not valid JSON/],
      ['[{"jsonrpc":"2.0","id":1,"method":"ping"}]', -32600, /batches are not supported/],
      ['{"jsonrpc":"1.0","id":1,"method":"ping"}', -32600, /"jsonrpc": "2.0"/],
      ['{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', -32600, /"id"/],
      ['{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}', -32602, /"params"/],
      ['"just a string"', -32600, /found a string/],
    ];
    for (const [body, code, pattern] of cases) {
      const response = await post(body);
      assert.equal(response.status, 400, body);
      const error = (await answerOf(response)).error as RpcError;
      assert.equal(error.code, code, body);
      assert.match(error.message, pattern, body);
      assert.ok(!error.message.includes("\n"), body);
    }
    await stillServes();
  });

  await t.step("wrong tools/call shapes are -32602 with one sentence", async () => {
    const shapes: [unknown, RegExp][] = [
      [undefined, /needs "params"/],
      [{ arguments: {} }, /"params.name"/],
      [{ name: "system_status", arguments: "x" }, /"params.arguments".*found a string/],
      [{ name: "system_status", arguments: null }, /found null/],
      [{ name: "system_status", arguments: [1] }, /found an array/],
      [{ name: "no_such_tool", arguments: {} }, /Tool "no_such_tool" not found/],
    ];
    for (const [index, [params, pattern]] of shapes.entries()) {
      const message = params === undefined
        ? { jsonrpc: "2.0", id: 100 + index, method: "tools/call" }
        : { jsonrpc: "2.0", id: 100 + index, method: "tools/call", params };
      const answer = await answerOf(await post(JSON.stringify(message)));
      assert.equal(answer.id, 100 + index);
      assert.equal((answer.error as RpcError).code, -32602, JSON.stringify(answer));
      assert.match((answer.error as RpcError).message, pattern);
    }
    await stillServes();
  });

  await client.close();
  const records = await readAudit(gateway.auditFile);
  assert.equal(
    records.filter((r) => r.event === "decided").length,
    3,
    "no bad message reached the gate",
  );
});
