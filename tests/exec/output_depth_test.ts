import assert from "node:assert/strict";
import { jsonTextTooDeep, MAX_OUTPUT_DEPTH, valueTooDeep } from "../../src/exec/output_depth.ts";

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
