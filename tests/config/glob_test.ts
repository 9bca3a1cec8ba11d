import assert from "node:assert/strict";
import { compileGlob, compilePathGlob, matchGlob } from "../../src/config/glob.ts";
import { callSelectorSchema, compileSelector, selectorSchema } from "../../src/config/selector.ts";

/** The old backtracking translation, as a reference for small inputs only. */
function reference(glob: string, text: string): boolean {
  const body = glob.replace(/[.+^${}()|[\]\\-]/g, "\\$&").replaceAll("*", ".*").replaceAll(
    "?",
    ".",
  );
  return new RegExp(`^${body}$`, "s").test(text);
}

/** A small deterministic PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

Deno.test("compileGlob() agrees with a regular-expression translation on 20,000 random small cases", () => {
  const random = prng(8);
  const pick = (alphabet: string, max: number) =>
    Array.from(
      { length: Math.floor(random() * (max + 1)) },
      () => alphabet[Math.floor(random() * alphabet.length)],
    ).join("");
  for (let i = 0; i < 20_000; i++) {
    const glob = pick("ab*?.", 7);
    const text = pick("ab.", 9);
    assert.equal(matchGlob(glob, text), reference(glob, text), `${glob} vs ${text}`);
  }
});

Deno.test("compileGlob() treats every character but * and ? literally", () => {
  assert.equal(matchGlob("web.1", "webx1"), false);
  assert.equal(matchGlob("a+b", "aab"), false);
  assert.equal(matchGlob("(a)", "(a)"), true);
  assert.equal(matchGlob("[ab]", "a"), false);
  assert.equal(matchGlob("", ""), true);
  assert.equal(matchGlob("*", ""), true);
  assert.equal(matchGlob("?", ""), false);
});

Deno.test("compileGlob() folds case only when asked", () => {
  assert.equal(matchGlob("*@Example.COM", "alice@example.com"), false);
  assert.equal(matchGlob("*@Example.COM", "alice@example.com", { caseInsensitive: true }), true);
});

/** Comparisons needed to match `text` against `glob`. */
function stepsOf(glob: string, text: string): { matched: boolean; steps: number } {
  const steps = { count: 0 };
  const matched = compileGlob(glob, { steps })(text);
  return { matched, steps: steps.count };
}

Deno.test("star bombs cost at most (text + 1) × glob comparisons, however many stars", () => {
  const cases: [string, string][] = [
    ["*".repeat(40) + "x", "a".repeat(63)],
    ["*".repeat(200) + "x", "a".repeat(5000)],
    ["*a".repeat(30) + "x", "a".repeat(63)],
    ["*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", "a".repeat(10_000)],
    ["?*".repeat(100) + "!", "a".repeat(10_000)],
    ["*?".repeat(100) + "!", "a".repeat(10_000)],
    ["?".repeat(5000) + "*", "a".repeat(4999)],
    ["*" + "a".repeat(50) + "b*", "a".repeat(10_000)],
  ];
  for (const [glob, text] of cases) {
    const { matched, steps } = stepsOf(glob, text);
    assert.equal(matched, false, glob.slice(0, 20));
    const bound = (text.length + 1) * glob.length;
    assert.ok(steps <= bound, `${glob.slice(0, 20)}…: ${steps} steps > ${bound}`);
  }
});

Deno.test("a selector of 40 or 63 stars against long ids is refused or decided at once", () => {
  const targets = Array.from({ length: 500 }, (_, i) => ({
    id: `${"a".repeat(58)}${String(i).padStart(4, "0")}`,
    tags: [],
    groups: [],
  }));
  for (const term of ["*".repeat(40) + "x", "*".repeat(62) + "x", "?*".repeat(31) + "x"]) {
    const terms = selectorSchema.parse(term);
    const matcher = compileSelector(terms);
    assert.equal(targets.filter(matcher).length, 0, term);
  }
  // 200 stars exceed the 63-character atom cap: refused by the schema, saying the cap.
  const long = selectorSchema.safeParse("*".repeat(200) + "x");
  assert.equal(long.success, false);
  assert.match(long.error!.issues[0].message, /at most 63 characters/);
  const huge = selectorSchema.safeParse("a&".repeat(200) + "a");
  assert.equal(huge.success, false);
  assert.match(huge.error!.issues[0].message, /at most 256 characters/);
});

Deno.test("compilePathGlob() keeps * within a segment and lets ** span segments", () => {
  const yes: [string, string][] = [
    ["/api/**", "/api"],
    ["/api/**", "/api/"],
    ["/api/**", "/api/a/b"],
    ["/users/*", "/users/42"],
    ["/a/**/b", "/a/b"],
    ["/a/**/b", "/a/x/y/b"],
    ["/a/**/**/b", "/a/x/b"],
    ["/**", "/"],
    ["/**", "/anything/at/all"],
    ["/v*/items/*", "/v1/items/3"],
    ["/a/**/b/**/c", "/a/1/b/2/c"],
  ];
  const no: [string, string][] = [
    ["/api/**", "/apix"],
    ["/users/*", "/users/42/keys"],
    ["/v1.json", "/v1xjson"],
    ["/a/**/b", "/a/x/y/c"],
    ["/a/**/b/**/c", "/a/1/c/2/b"],
    ["/x", "x"],
  ];
  for (const [glob, path] of yes) assert.ok(compilePathGlob(glob)(path), `${glob} ${path}`);
  for (const [glob, path] of no) assert.ok(!compilePathGlob(glob)(path), `${glob} ${path}`);
});

Deno.test("path glob bombs cost at most (path + segments) × glob comparisons", () => {
  const cases: [string, string][] = [
    ["/" + "*a".repeat(200) + "b", "/" + "a".repeat(2040)],
    ["/**/a".repeat(100) + "/b", "/a".repeat(1000)],
    ["/" + "**/*a*/".repeat(60) + "x", "/" + "aaaa/".repeat(400) + "y"],
  ];
  for (const [glob, path] of cases) {
    const steps = { count: 0 };
    assert.equal(compilePathGlob(glob, { steps })(path), false, glob.slice(0, 20));
    const bound = (path.length + path.split("/").length) * glob.length;
    assert.ok(steps.count <= bound, `${glob.slice(0, 20)}…: ${steps.count} > ${bound}`);
  }
});

Deno.test("a selector sent with a call holds at most 1024 characters in all, and says so", () => {
  const within = Array.from({ length: 16 }, () => "*?".repeat(31) + "x");
  assert.equal(callSelectorSchema.safeParse(within).success, true);
  const over = callSelectorSchema.safeParse(
    Array.from({ length: 17 }, () => "*?".repeat(31) + "x"),
  );
  assert.equal(over.success, false);
  assert.match(over.error!.issues[0].message, /at most 1024 characters in all terms together/);
  // Policy and role selectors are the operator's own: only the per-term caps apply.
  assert.equal(selectorSchema.safeParse(Array.from({ length: 200 }, () => "web-*")).success, true);
});

Deno.test("the worst selector a call may send costs a bounded number of comparisons per target", () => {
  const id = "a".repeat(59) + "0001";
  const worst = callSelectorSchema.parse(
    Array.from({ length: 30 }, (_, i) => "*" + "a".repeat(29) + "b" + (i % 10) + "*"),
  );
  const steps = { count: 0 };
  const atoms = worst.map((term) => compileGlob(term, { steps }));
  assert.equal(atoms.some((match) => match(id)), false);
  const chars = worst.reduce((sum, term) => sum + term.length, 0);
  assert.ok(steps.count <= (id.length + 1) * chars, `${steps.count} steps`);
});
