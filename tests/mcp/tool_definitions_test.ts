import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/client";
import { InMemoryTransport } from "@modelcontextprotocol/server";
import { serveCachedToolList, toolConfig, toolDefinition } from "../../src/mcp/tool_definitions.ts";
import { McpServer, type Tool } from "../../src/mcp/sdk.ts";
import { compactSchema } from "../../src/mcp/_compact_schema.ts";
import { ENVELOPE_KEYS, LISTED_ENVELOPE_KEYS } from "../../src/mcp/envelope.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import type { Operation } from "../../src/ops/operation.ts";

/** The raw JSON of a `tools/list` answer and what an SDK client parses from it. */
async function listTools(server: McpServer): Promise<{ raw: string; parsed: unknown }> {
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  const client = new Client({ name: "test", version: "0" });
  await Promise.all([server.connect(serverSide), client.connect(clientSide)]);
  const answers: string[] = [];
  const onmessage = clientSide.onmessage!;
  clientSide.onmessage = (message, extra) => {
    if ("result" in message && "tools" in (message.result as object)) {
      answers.push(JSON.stringify(message.result));
    }
    onmessage(message, extra);
  };
  try {
    const parsed = await client.listTools();
    assert.equal(answers.length, 1);
    return { raw: answers[0], parsed };
  } finally {
    await client.close();
    await server.close();
  }
}

function serverWith(operations: readonly Operation[], cached: boolean): McpServer {
  const server = new McpServer({ name: "test", version: "0" });
  for (const operation of operations) {
    server.registerTool(operation.name, toolConfig(operation), () => ({ content: [] }));
  }
  if (cached) serveCachedToolList(server, operations);
  return server;
}

/** The SDK's own list as the cache serves it: schemas compacted, no `execution` (the default). */
function compacted(list: unknown): unknown {
  const unlisted = ENVELOPE_KEYS.filter((key) => !LISTED_ENVELOPE_KEYS.includes(key));
  return {
    tools: (list as { tools: Tool[] }).tools.map(({ execution: _forbidden, ...tool }) => ({
      ...tool,
      inputSchema: compactSchema(tool.inputSchema, { io: "input", unlisted }),
      outputSchema: compactSchema(tool.outputSchema, { io: "output" }),
    })),
  };
}

Deno.test("the cached tools/list is what the SDK builds from the same tools, compacted", async () => {
  const sdk = await listTools(serverWith(CATALOG, false));
  const cached = await listTools(serverWith(CATALOG, true));
  assert.equal(cached.raw, JSON.stringify(compacted(JSON.parse(sdk.raw))));
  // In memory the SDK's own entries carry `undefined` keys (icons) that JSON
  // drops: compare what goes on the wire.
  const wire = (value: unknown) => JSON.parse(JSON.stringify(value));
  assert.deepEqual(wire(cached.parsed), wire(compacted(sdk.parsed)));
  assert.equal((cached.parsed as { tools: unknown[] }).tools.length, CATALOG.length);
});

Deno.test("the cached tools/list holds only the operations registered on that server", async () => {
  const some = CATALOG.filter((_, i) => i % 3 === 0);
  const sdk = await listTools(serverWith(some, false));
  const cached = await listTools(serverWith(some, true));
  assert.equal(cached.raw, JSON.stringify(compacted(JSON.parse(sdk.raw))));
  assert.deepEqual(
    (cached.parsed as { tools: { name: string }[] }).tools.map((tool) => tool.name),
    some.map((op) => op.name),
  );
});

Deno.test("toolDefinition() converts each operation once and freezes the result", () => {
  const operation = CATALOG[0];
  const first = toolDefinition(operation);
  assert.equal(toolDefinition(operation), first);
  assert.equal(toolConfig(operation), toolConfig(operation));
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.inputSchema));
  assert.throws(() => {
    (first.inputSchema as { type: string }).type = "string";
  }, TypeError);
});

Deno.test("a long pattern is left out of the listed schema but still refuses bad input", () => {
  const byName = (name: string) => CATALOG.find((op) => op.name === name)!;
  const logs = byName("container_logs");
  const since = (toolDefinition(logs).inputSchema.properties as Record<string, { anyOf: object[] }>)
    .since;
  assert.equal(JSON.stringify(since).includes("pattern"), false, JSON.stringify(since));
  assert.equal(JSON.stringify(since).includes('"format":"date-time"'), true);
  const call = { container: "web", since: "2024-02-30T00:00:00Z" };
  assert.equal(logs.input.safeParse(call).success, false);
  const task = byName("pve_task_status");
  const upid = (toolDefinition(task).inputSchema.properties as Record<string, object>).upid;
  assert.deepEqual(upid, { type: "string", maxLength: 400 });
  assert.equal(task.input.safeParse({ upid: "UPID:-x:;reboot" }).success, false);
});

Deno.test("an output value cut off below the listed depth is {} however zod wrote it", () => {
  const out = compactSchema({
    type: "object",
    properties: {
      results: {
        type: "array",
        items: {
          type: "object",
          properties: {
            data: {
              type: "object",
              properties: {
                a: {
                  anyOf: [{ type: "object", properties: { x: { type: "string" } } }, {
                    type: "null",
                  }],
                },
              },
            },
          },
        },
      },
    },
  }, { io: "output" });
  const data = (out as {
    properties: { results: { items: { properties: { data: { properties: { a: object } } } } } };
  }).properties.results.items.properties.data.properties;
  assert.deepEqual(data.a, {});
});
