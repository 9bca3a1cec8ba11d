import assert from "node:assert/strict";
import { quoteArg, quoteArgv } from "../../src/exec/quote.ts";

const NASTY = [
  "",
  "plain",
  "with space",
  "it's",
  "''",
  "$(id)",
  "`id`",
  "a;b && c | d > e",
  "line\nbreak",
  "tab\there",
  '$HOME ${PATH} \\ " !',
  "-rf",
  "*?[a-z]~",
  "ünïcødé ✓",
];

Deno.test("quoteArg() wraps arguments in single quotes and escapes embedded quotes", () => {
  assert.equal(quoteArg("abc"), "'abc'");
  assert.equal(quoteArg(""), "''");
  assert.equal(quoteArg("it's"), "'it'\\''s'");
});

Deno.test("quoteArg() refuses NUL bytes", () => {
  assert.throws(() => quoteArg("a\0b"), TypeError);
});

Deno.test("quoteArgv() refuses an empty argv", () => {
  assert.throws(() => quoteArgv([]), TypeError);
});

Deno.test("quoteArgv() output reaches a real POSIX shell verbatim", async () => {
  const line = quoteArgv(["printf", "%s\\0", ...NASTY]);
  const out = await new Deno.Command("/bin/sh", { args: ["-c", line], clearEnv: true }).output();
  assert.equal(out.code, 0);
  const got = new TextDecoder().decode(out.stdout).split("\0").slice(0, -1);
  assert.deepEqual(got, NASTY);
});
