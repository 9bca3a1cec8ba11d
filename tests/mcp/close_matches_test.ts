import assert from "node:assert/strict";
import { closeMatches, selectionHint } from "../../src/mcp/_close_matches.ts";

const target = (id: string, tags: string[] = [], groups: string[] = []) => ({ id, tags, groups });

Deno.test("closeMatches() suggests near ids, nearest first, and nothing for unrelated names", () => {
  const ids = ["db-01", "db-02", "web-01", "cache-01"];
  assert.deepEqual(closeMatches("db-1", ids), ["db-01", "db-02"]);
  assert.deepEqual(closeMatches("DB-02", ids), ["db-02", "db-01"]);
  assert.deepEqual(closeMatches("web", ids), ["web-01"]);
  assert.deepEqual(closeMatches("zzzzzzzz", ids), []);
  assert.deepEqual(closeMatches("", ids), []);
  assert.equal(closeMatches("db-0", ids, 1).length, 1);
});

Deno.test("selectionHint() reads tag:, group:, & and ! terms, skips globs, and always says how to list", () => {
  const visible = [target("db-01", ["db"], ["prod"]), target("web-01", ["web"], ["staging"])];
  assert.equal(
    selectionHint(["tag:dbb&group:prd", "!web-1"], visible),
    ' (close: "tag:db", "tag:web", "group:prod", "web-01"); call list_targets to see the targets you may use',
  );
  assert.equal(
    selectionHint("db-*x", visible),
    "; call list_targets to see the targets you may use",
  );
  assert.equal(
    selectionHint("nothing-like-it", []),
    "; call list_targets to see the targets you may use",
  );
});

Deno.test("selectionHint() stays bounded on a large registry with long and unusual input", () => {
  const visible = Array.from({ length: 2000 }, (_, i) => target(`host-${i}`, [`t${i % 50}`]));
  for (
    const wanted of [
      "x".repeat(256),
      "h\u0000ost-1",
      "hôst-1",
      "\ud83d\ude00".repeat(60),
      "tag:" + "t".repeat(250),
    ]
  ) {
    const hint = selectionHint([wanted], visible);
    assert.match(hint, /call list_targets/);
    assert.ok(hint.length < 400, hint);
  }
});
