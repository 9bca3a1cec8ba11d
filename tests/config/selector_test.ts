import assert from "node:assert/strict";
import {
  compileSelector,
  type Selectable,
  selectorSchema,
  selectorTermSchema,
} from "../../src/config/selector.ts";
import { matchGlob } from "../../src/config/glob.ts";
import { Registry } from "../../src/config/registry.ts";
import { targetSchema } from "../../src/config/targets_schema.ts";

const FLEET: Selectable[] = [
  { id: "web-1", tags: ["web", "nginx"], groups: ["prod"] },
  { id: "web-2", tags: ["web"], groups: ["prod"] },
  { id: "web-10", tags: ["web"], groups: ["staging"] },
  { id: "db-1", tags: ["db"], groups: ["prod"] },
  { id: "db-legacy", tags: ["db", "legacy"], groups: ["prod"] },
  { id: "web.1", tags: [], groups: [] },
  { id: "webx1", tags: [], groups: [] },
];

/** Ids a selector (validated first) picks from the fleet, in fleet order. */
const pick = (selector: string | string[]) =>
  FLEET.filter(compileSelector(selectorSchema.parse(selector))).map((t) => t.id);

Deno.test("an id selects exactly that target", () => {
  assert.deepEqual(pick("db-1"), ["db-1"]);
  assert.deepEqual(pick("web-3"), [], "an unknown id selects nothing");
});

Deno.test("* selects every target", () => {
  assert.deepEqual(pick("*"), FLEET.map((t) => t.id));
});

Deno.test("a glob matches whole ids: * any run, ? one character", () => {
  assert.deepEqual(pick("web-*"), ["web-1", "web-2", "web-10"]);
  assert.deepEqual(pick("web-?"), ["web-1", "web-2"]);
  assert.deepEqual(pick("*-1"), ["web-1", "db-1"]);
  assert.deepEqual(pick("eb-*"), [], "globs are anchored at the start");
});

Deno.test("a dot in a glob or id is literal, not a regular expression wildcard", () => {
  assert.deepEqual(pick("web.1"), ["web.1"]);
  assert.deepEqual(pick("web.?"), ["web.1"]);
  assert.equal(matchGlob("web.1", "webx1"), false);
  assert.equal(matchGlob("a-b", "a-b"), true);
});

Deno.test("tag: and group: select by label", () => {
  assert.deepEqual(pick("tag:web"), ["web-1", "web-2", "web-10"]);
  assert.deepEqual(pick("group:prod"), ["web-1", "web-2", "db-1", "db-legacy"]);
  assert.deepEqual(pick("tag:nope"), []);
});

Deno.test("& intersects atoms within one term", () => {
  assert.deepEqual(pick("tag:web&group:prod"), ["web-1", "web-2"]);
  assert.deepEqual(pick("tag:web&group:prod&tag:nginx"), ["web-1"]);
  assert.deepEqual(pick("web-*&group:staging"), ["web-10"]);
  assert.deepEqual(pick("tag:db&tag:web"), []);
});

Deno.test("a list is the union of its terms", () => {
  assert.deepEqual(pick(["db-1", "tag:nginx"]), ["web-1", "db-1"]);
  assert.deepEqual(pick(["group:staging", "db-*"]), ["web-10", "db-1", "db-legacy"]);
});

Deno.test("! excludes, whatever its position in the list", () => {
  assert.deepEqual(pick(["tag:db", "!db-legacy"]), ["db-1"]);
  assert.deepEqual(pick(["!db-legacy", "tag:db"]), ["db-1"]);
  assert.deepEqual(pick(["group:prod", "!tag:web&tag:nginx"]), ["web-2", "db-1", "db-legacy"]);
  assert.deepEqual(pick(["*", "!group:prod"]), ["web-10", "web.1", "webx1"]);
});

Deno.test("a selector with only exclusions selects nothing (there is nothing to exclude from)", () => {
  assert.deepEqual(pick("!db-1"), []);
  assert.deepEqual(pick(["!tag:web", "!tag:db"]), []);
});

Deno.test("a single term is read as a one-term list", () => {
  assert.deepEqual(selectorSchema.parse("tag:web"), ["tag:web"]);
  assert.deepEqual(selectorSchema.parse(["a", "b"]), ["a", "b"]);
});

Deno.test("invalid terms are refused with the term and the grammar", () => {
  const bad = [
    "",
    "Web-1",
    "web 1",
    "tag:",
    "tag:Web",
    "group:prod team",
    "role:admin",
    "a&&b",
    "&a",
    "a&",
    "!",
    "!!a",
    "a!b",
    "web-[12]",
    "x".repeat(64),
    "tag:" + "x".repeat(64),
  ];
  for (const term of bad) {
    const result = selectorTermSchema.safeParse(term);
    assert.equal(result.success, false, `${JSON.stringify(term)} is refused`);
    assert.match(
      result.error!.issues[0].message,
      /^Invalid target selector .*: expected an id, a glob such as "web-\*", "tag:NAME" or "group:NAME"/,
    );
  }
});

Deno.test("an empty list and a list with one bad term are refused", () => {
  assert.equal(selectorSchema.safeParse([]).success, false);
  assert.equal(selectorSchema.safeParse(["tag:web", "Bad"]).success, false);
  assert.equal(selectorSchema.safeParse(42).success, false);
});

Deno.test("Registry.select() applies a selector in registry order", () => {
  const registry = new Registry([
    targetSchema.parse({ id: "b", type: "local", capabilities: ["system:read"], tags: ["x"] }),
    targetSchema.parse({ id: "a", type: "docker", capabilities: ["container:read"], tags: ["x"] }),
    targetSchema.parse({ id: "c", type: "local", capabilities: ["system:read"] }),
  ]);
  assert.deepEqual(registry.select(["c", "tag:x"]).map((t) => t.id), ["b", "a", "c"]);
  assert.deepEqual(registry.select(["tag:x", "!a"]).map((t) => t.id), ["b"]);
  assert.equal(registry.get("missing"), undefined);
});
