import assert from "node:assert/strict";
import { toolDefinition } from "../../src/mcp/tool_definitions.ts";
import { measureToolList, TOOL_LIST_BUDGET } from "../../src/mcp/tool_budget.ts";
import { CATALOG } from "../../src/ops/catalog.ts";

Deno.test("a host, container and HTTP gateway's tools/list stays within 64 KB and every tool within 3 KB", () => {
  // tools/list shows only tools some registered target could run. Proxmox's
  // pve_* tools (about 18 KB more) are listed only where a proxmox target is
  // registered; with them the whole catalogue is over the budget (below).
  const tools = CATALOG.filter((op) => !op.targetTypes.every((t) => t === "proxmox"))
    .map(toolDefinition);
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

Deno.test("every tool keeps its annotations, structured output schema and listed envelope keys", () => {
  for (const tool of CATALOG.map(toolDefinition)) {
    assert.equal(typeof tool.annotations?.readOnlyHint, "boolean", tool.name);
    const out = tool.outputSchema as unknown as {
      properties: { results: { items: { properties: object } } };
    };
    assert.ok("data" in out.properties.results.items.properties, tool.name);
    const input = tool.inputSchema.properties as Record<string, unknown>;
    for (const key of ["target", "targets", "dry_run"]) {
      assert.ok(key in input, `${tool.name} lists ${key}`);
    }
    assert.equal("$schema" in tool.inputSchema, false);
  }
});

Deno.test("the whole catalogue, Proxmox tools included, stays within 80 KB (over the 64 KB goal)", () => {
  const size = measureToolList(CATALOG.map(toolDefinition));
  assert.ok(size.bytes <= 80 * 1024, `tools/list of the whole catalogue is ${size.bytes} bytes`);
});
