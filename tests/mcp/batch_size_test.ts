/**
 * `serial`: batch sizes from a count or a percentage.
 */
import assert from "node:assert/strict";
import { batchSize, toolInputSchema } from "../../src/mcp/envelope.ts";
import { CATALOG } from "../../src/ops/catalog.ts";
import { failureLimit } from "../../src/mcp/call_tool.ts";

Deno.test("batchSize() takes a count as is and rounds a percentage of the targets up", () => {
  assert.equal(batchSize(undefined, 7), 7);
  assert.equal(batchSize(undefined, 0), 1);
  assert.equal(batchSize(2, 7), 2);
  assert.equal(batchSize("25%", 7), 2);
  assert.equal(batchSize("1%", 7), 1);
  assert.equal(batchSize("100%", 7), 7);
});

Deno.test("serial accepts a count or a percentage and refuses anything else", () => {
  const schema = toolInputSchema(CATALOG[0]);
  for (const serial of [1, 50, "5%", "100%"]) {
    assert.ok(schema.safeParse({ target: "x", serial }).success, String(serial));
  }
  for (const serial of [0, -1, 1.5, "0%", "101%", "5", "%", "50 %"]) {
    assert.ok(!schema.safeParse({ target: "x", serial }).success, String(serial));
  }
});

Deno.test("failureLimit() stops at max_failures, fail_fast or more than max_fail_percentage, whichever is first", () => {
  assert.equal(failureLimit({}, 10), Infinity);
  assert.equal(failureLimit({ fail_fast: true }, 10), 1);
  assert.equal(failureLimit({ max_failures: 3 }, 10), 3);
  // 20% of 10 targets may fail; the third failure exceeds it.
  assert.equal(failureLimit({ max_fail_percentage: 20 }, 10), 3);
  assert.equal(failureLimit({ max_fail_percentage: 0 }, 10), 1);
  assert.equal(failureLimit({ max_fail_percentage: 50, max_failures: 2 }, 10), 2);
});
