import assert from "node:assert/strict";
import { toolDefinition } from "../../src/mcp/tool_definitions.ts";
import { measureToolList, TOOL_LIST_BUDGET } from "../../src/mcp/tool_budget.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

Deno.test("the whole catalogue's tools/list, Proxmox tools included, stays within 64 KB and every tool within 3 KB", () => {
  // What an admin sees with every target type registered: every built-in tool.
  const tools = CATALOG.map(toolDefinition);
  const size = measureToolList(tools);
  assert.ok(
    size.bytes <= TOOL_LIST_BUDGET.totalBytes,
    `tools/list of ${tools.length} tools is ${size.bytes} bytes (~${size.tokens} tokens): expected at most ${TOOL_LIST_BUDGET.totalBytes}`,
  );
  for (const tool of tools) {
    const bytes = measureToolList([tool]).bytes - '{"tools":[]}'.length;
    assert.ok(
      bytes <= TOOL_LIST_BUDGET.toolBytes,
      `${tool.name} is ${bytes} bytes in tools/list: expected at most ${TOOL_LIST_BUDGET.toolBytes}`,
    );
  }
  assert.equal(size.largest.bytes <= TOOL_LIST_BUDGET.toolBytes, true);
});

Deno.test("every tool keeps its annotations, structured output schema, capability and listed envelope keys", () => {
  for (const tool of CATALOG.map(toolDefinition)) {
    assert.equal(typeof tool.annotations?.readOnlyHint, "boolean", tool.name);
    assert.equal(typeof tool.annotations?.destructiveHint, "boolean", tool.name);
    assert.equal(typeof tool._meta?.["tailops/capability"], "string", tool.name);
    const out = tool.outputSchema as unknown as {
      type: string;
      properties: { results: { items: { properties: object } } };
    };
    assert.equal(out.type, "object", tool.name);
    assert.ok("data" in out.properties.results.items.properties, tool.name);
    const input = tool.inputSchema.properties as Record<string, unknown>;
    for (const key of ["target", "targets", "dry_run"]) {
      assert.ok(key in input, `${tool.name} lists ${key}`);
    }
    assert.equal("$schema" in tool.inputSchema, false);
  }
});

Deno.test("no tool repeats the envelope guide, which the server's instructions state once", async () => {
  const { ENVELOPE_GUIDE } = await import("../../src/mcp/envelope.ts");
  const { SERVER_INSTRUCTIONS } = await import("../../src/mcp/server.ts");
  assert.ok(SERVER_INSTRUCTIONS.includes(ENVELOPE_GUIDE));
  for (const tool of CATALOG.map(toolDefinition)) {
    assert.equal(tool.description?.includes("`dry_run: true`"), false, tool.name);
  }
});
