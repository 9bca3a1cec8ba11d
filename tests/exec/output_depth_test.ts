import assert from "node:assert/strict";
import { jsonTextTooDeep, MAX_OUTPUT_DEPTH, valueTooDeep } from "../../src/exec/output_depth.ts";
import { measureResult } from "../../src/exec/output_budget.ts";

Deno.test("jsonTextTooDeep() counts arrays and objects but not brackets inside strings", () => {
  assert.equal(jsonTextTooDeep("[[1]]", 2), false);
  assert.equal(jsonTextTooDeep("[[1]]", 1), true);
  assert.equal(jsonTextTooDeep('{"a":{"b":[1]}}', 2), true);
  assert.equal(jsonTextTooDeep('["[[[[", "{{{{"]', 1), false);
  assert.equal(
    jsonTextTooDeep('["\\"[[[[", "\\\\"]', 1),
    false,
    "escaped quotes keep the string open",
  );
  assert.equal(jsonTextTooDeep('["\\\\", [[1]]]', 2), true, "an escaped backslash ends nothing");
  assert.equal(jsonTextTooDeep("[]".repeat(10_000), 1), false, "siblings are not nesting");
});

Deno.test("jsonTextTooDeep() refuses hostile depths at the default limit in one pass", () => {
  for (const depth of [MAX_OUTPUT_DEPTH + 1, 256, 1000, 1_000_000]) {
    assert.equal(jsonTextTooDeep("[".repeat(depth) + "]".repeat(depth)), true, `${depth}`);
    assert.equal(jsonTextTooDeep('{"a":'.repeat(depth) + "1" + "}".repeat(depth)), true);
  }
  const ok = "[".repeat(MAX_OUTPUT_DEPTH) + "]".repeat(MAX_OUTPUT_DEPTH);
  assert.equal(jsonTextTooDeep(ok), false);
});

Deno.test("valueTooDeep() walks values of any depth without recursion", () => {
  assert.equal(valueTooDeep({ a: [1] }, 1), true);
  assert.equal(valueTooDeep({ a: 1, b: "[[[[" }, 1), false);
  assert.equal(valueTooDeep(null), false);
  assert.equal(valueTooDeep("text"), false);
  const deep = JSON.parse("[".repeat(200_000) + "]".repeat(200_000));
  assert.equal(valueTooDeep(deep), true);
  const wide = Array.from({ length: 100_000 }, (_, i) => ({ i, tags: [String(i)] }));
  assert.equal(valueTooDeep(wide), false);
});

Deno.test("measureResult() accepts what the workers accept and refuses deeper, in one walk", () => {
  const nested = (depth: number) => JSON.parse("[".repeat(depth) + "]".repeat(depth));
  const http = (body: unknown) =>
    ({ kind: "http", status: 200, headers: {}, body, truncated: false, latencyMs: 1 }) as const;
  assert.equal(measureResult(http(nested(MAX_OUTPUT_DEPTH))).tooDeep, false);
  assert.equal(measureResult(http(nested(MAX_OUTPUT_DEPTH + 2))).tooDeep, true);
  assert.equal(measureResult(http(nested(100_000))).tooDeep, true);
  const text = "x".repeat(1000);
  const { bytes } = measureResult(http(Array.from({ length: 100 }, () => text)));
  assert.ok(bytes >= 100 * 1000 && bytes < 100 * 2 * 1100, `estimate ${bytes}`);
});
