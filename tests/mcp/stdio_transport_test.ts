import assert from "node:assert/strict";
import { StdioTransport } from "../../src/mcp/stdio_transport.ts";
import type { JSONRPCMessage } from "../../src/mcp/sdk.ts";

/** A transport reading `lines` and writing nowhere, and what it handed on. */
async function reading(lines: object[]) {
  const text = lines.map((line) => JSON.stringify(line)).join("\n") + "\n";
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(text));
    },
  });
  const transport = new StdioTransport(input, new WritableStream());
  const seen: JSONRPCMessage[] = [];
  const all = Promise.withResolvers<void>();
  transport.onmessage = (message) => {
    seen.push(message);
    if (seen.length === lines.length) all.resolve();
  };
  await transport.start();
  await all.promise;
  return { transport, seen };
}

Deno.test("answered() waits for a response to every request read and not cancelled, duplicates counted", async () => {
  const { transport } = await reading([
    { jsonrpc: "2.0", id: 1, method: "ping" },
    { jsonrpc: "2.0", method: "notifications/initialized" },
    { jsonrpc: "2.0", id: "a", method: "tools/list" },
    { jsonrpc: "2.0", id: "a", method: "tools/list" },
    { jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "x" } },
    // A cancelled request gets no response: nothing waits for one.
    { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 7 } },
  ]);
  try {
    assert.equal(await transport.answered(20), false);
    await transport.send({ jsonrpc: "2.0", id: 1, result: {} });
    await transport.send({ jsonrpc: "2.0", id: "a", result: {} });
    assert.equal(await transport.answered(20), false, "the second request with id a is open");
    // A notification or a request of our own answers nothing.
    await transport.send({ jsonrpc: "2.0", method: "notifications/message", params: {} });
    await transport.send({ jsonrpc: "2.0", id: "a", method: "ping" });
    assert.equal(await transport.answered(20), false);
    const waiting = transport.answered(60_000);
    await transport.send({ jsonrpc: "2.0", id: "a", error: { code: -32601, message: "no" } });
    assert.equal(await waiting, true);
  } finally {
    await transport.close();
  }
});
