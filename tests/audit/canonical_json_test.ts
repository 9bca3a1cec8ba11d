import assert from "node:assert/strict";
import {
  CANONICAL_MAX_DEPTH,
  canonicalDigest,
  canonicalJson,
  sha256Hex,
} from "../../src/audit/canonical_json.ts";

Deno.test("canonicalJson() sorts object keys at every depth and writes no whitespace", () => {
  const value = { b: 1, a: { z: [3, { y: true, x: null }], c: "s" } };
  assert.equal(canonicalJson(value), '{"a":{"c":"s","z":[3,{"x":null,"y":true}]},"b":1}');
});

Deno.test("canonicalJson() gives the same text whatever the insertion order", () => {
  const one = { target: "web-1", args: { unit: "nginx", lines: 50 }, op: "logs" };
  const two = { op: "logs", args: { lines: 50, unit: "nginx" }, target: "web-1" };
  assert.equal(canonicalJson(one), canonicalJson(two));
});

Deno.test("canonicalJson() keeps array order", () => {
  assert.equal(canonicalJson([3, 1, 2, ["b", "a"]]), '[3,1,2,["b","a"]]');
});

Deno.test("canonicalJson() sorts keys by UTF-16 code units as RFC 8785 does", () => {
  // U+1F600 is stored as the surrogates D83D DE00, which sort before U+FB33.
  const value = { "\ufb33": 3, "\u{1f600}": 2, "\u20ac": 1, "é": 0, "Z": -1, "a": -2 };
  assert.equal(
    canonicalJson(value),
    '{"Z":-1,"a":-2,"\u00e9":0,"\u20ac":1,"\u{1f600}":2,"\ufb33":3}',
  );
});

Deno.test("canonicalJson() writes unicode raw and escapes control characters and lone surrogates", () => {
  assert.equal(canonicalJson("héllo ✓ 😀"), '"héllo ✓ 😀"');
  assert.equal(canonicalJson('a\u0001\n"\\'), '"a\\u0001\\n\\"\\\\"');
  assert.equal(canonicalJson("\ud800"), '"\\ud800"');
});

Deno.test("canonicalJson() writes numbers as ECMAScript does", () => {
  assert.equal(canonicalJson([-0, 1.5, 1e21, 1e-7, 100]), "[0,1.5,1e+21,1e-7,100]");
});

Deno.test("canonicalJson() drops undefined fields and writes undefined array items as null", () => {
  assert.equal(canonicalJson({ a: undefined, b: [undefined, 1] }), '{"b":[null,1]}');
});

Deno.test("canonicalJson() uses toJSON, so dates become ISO strings", () => {
  assert.equal(canonicalJson({ at: new Date(0) }), '{"at":"1970-01-01T00:00:00.000Z"}');
});

Deno.test("canonicalJson() rejects non-finite numbers with the path", () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    assert.throws(() => canonicalJson({ a: [bad] }), {
      name: "RangeError",
      message: `Cannot write canonical JSON: expected a finite number at $.a[0], found ${bad}`,
    });
  }
});

Deno.test("canonicalJson() rejects bigints, functions, symbols and cycles", () => {
  assert.throws(() => canonicalJson({ n: 1n }), TypeError);
  assert.throws(() => canonicalJson({ f: () => 1 }), TypeError);
  assert.throws(() => canonicalJson([Symbol("s")]), TypeError);
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  assert.throws(() => canonicalJson(cycle), { name: "TypeError", message: /found a cycle/ });
});

Deno.test("canonicalJson() accepts a value seen twice that is not a cycle", () => {
  const shared = { x: 1 };
  assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});

Deno.test("canonicalJson() refuses nesting past its limit instead of exhausting the stack", () => {
  let deep: unknown = "leaf";
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.throws(() => canonicalJson(deep), RangeError);
  let ok: unknown = "leaf";
  for (let i = 0; i < CANONICAL_MAX_DEPTH; i++) ok = [ok];
  assert.ok(canonicalJson(ok).startsWith("[[["));
});

Deno.test("sha256Hex() matches the FIPS 180-2 test vectors for text and bytes", async () => {
  const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(await sha256Hex(""), empty);
  assert.equal(await sha256Hex("abc"), abc);
  assert.equal(await sha256Hex(new Uint8Array([0x61, 0x62, 0x63])), abc);
});

Deno.test("sha256Hex() hashes text as UTF-8", async () => {
  assert.equal(await sha256Hex("é"), await sha256Hex(new Uint8Array([0xc3, 0xa9])));
});

Deno.test("canonicalDigest() hashes the canonical text and rejects what it cannot write", async () => {
  assert.equal(await canonicalDigest({ b: 1, a: 2 }), await sha256Hex('{"a":2,"b":1}'));
  await assert.rejects(canonicalDigest({ a: NaN }), RangeError);
});
