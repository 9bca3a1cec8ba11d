import assert from "node:assert/strict";
import {
  canonicalJson,
  canonicalJsonDigest,
  sha256HexSync,
} from "../../src/audit/canonical_json.ts";

Deno.test("canonicalJsonDigest() equals the digest and UTF-8 length of canonicalJson()", () => {
  const cases: unknown[] = [
    {
      a: "x".repeat(200_000) + "\u{1F600}".repeat(70_000) + '"\\\n\u0001',
      b: [1, null, true, "é"],
    },
    "\ud800".repeat(100_000),
    "a" + "\u{1F600}".repeat(40_000),
    { z: 1, a: { c: ["x", "y".repeat(65_535) + "\ud83d\ude00"] } },
    Array.from({ length: 50_000 }, (_, i) => ({ i, name: `item-${i}` })),
    null,
    [],
    {},
  ];
  for (const value of cases) {
    const text = canonicalJson(value);
    const { digest, bytes } = canonicalJsonDigest(value);
    assert.equal(digest, sha256HexSync(text));
    assert.equal(bytes, new TextEncoder().encode(text).byteLength);
  }
});

Deno.test("canonicalJsonDigest() refuses what canonicalJson() refuses", () => {
  assert.throws(() => canonicalJsonDigest({ n: NaN }), RangeError);
  assert.throws(
    () => canonicalJsonDigest(JSON.parse("[".repeat(300) + "]".repeat(300))),
    RangeError,
  );
});
