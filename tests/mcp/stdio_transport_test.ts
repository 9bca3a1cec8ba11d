/**
 * The stdio transport's count of requests read and not yet answered, which
 * decides when a gateway whose client closed stdin may exit.
 *
 * @module
 */
import assert from "node:assert/strict";
import { StdioTransport } from "../../src/mcp/stdio_transport.ts";
import type { JSONRPCMessage } from "../../src/mcp/sdk.ts";

/** A transport reading `lines` from an input that then stays open, and what it wrote. */
function transportWith(lines: string[]) {
  const written: string[] = [];
  const input = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(lines.join("")));
    },
  });
  const output = new WritableStream<Uint8Array>({
    write: (chunk) => void written.push(new TextDecoder().decode(chunk)),
  });
  const transport = new StdioTransport(input, output);
  const received: JSONRPCMessage[] = [];
  transport.onmessage = (message) => received.push(message);
  return { transport, received, written };
}

const answer = (id: number | string) => ({ jsonrpc: "2.0", id, result: {} }) as JSONRPCMessage;

/** Lets the transport's read loop take the enqueued chunk. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("requests read count as unanswered until a response with their id is sent", async () => {
  const { transport } = transportWith([
    '{"jsonrpc":"2.0","id":1,"method":"ping"}\n',
    '{"jsonrpc":"2.0","id":"two","method":"ping"}\n',
    '{"jsonrpc":"2.0","method":"notifications/initialized"}\n',
  ]);
  await transport.start();
  await settle();
  assert.equal(transport.unanswered, 2);
  assert.equal(await transport.answered(0), false);
  const waiting = transport.answered(60_000);
  await transport.send(answer(1));
  assert.equal(transport.unanswered, 1);
  await transport.send({ jsonrpc: "2.0", id: "two", error: { code: -32603, message: "x" } });
  assert.equal(await waiting, true);
  await transport.close();
});

Deno.test("a duplicate id counts twice, and a cancelled request stops being waited for", async () => {
  const { transport } = transportWith([
    '{"jsonrpc":"2.0","id":7,"method":"ping"}\n',
    '{"jsonrpc":"2.0","id":7,"method":"ping"}\n',
    '{"jsonrpc":"2.0","id":8,"method":"ping"}\n',
    '{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8}}\n',
  ]);
  await transport.start();
  await settle();
  assert.equal(transport.unanswered, 2);
  await transport.send(answer(7));
  assert.equal(transport.unanswered, 1);
  await transport.send(answer(7));
  assert.equal(await transport.answered(0), true);
  await transport.close();
});

Deno.test("the transport's own refusal of a bad line never counts as the answer to a request in flight", async () => {
  const { transport, written } = transportWith([
    '{"jsonrpc":"2.0","id":5,"method":"ping"}\n',
    '{"jsonrpc":"2.0","id":5,"method":7}\n',
    "not json\n",
  ]);
  await transport.start();
  await settle();
  assert.ok(
    written.some((line) => line.includes('"id":5') && line.includes("-32600")),
    written.join(""),
  );
  assert.equal(transport.unanswered, 1);
  // Answers to unknown ids (and server notifications) change nothing.
  await transport.send(answer(99));
  await transport.send(
    { jsonrpc: "2.0", method: "notifications/message", params: {} } as JSONRPCMessage,
  );
  assert.equal(transport.unanswered, 1);
  await transport.close();
});
