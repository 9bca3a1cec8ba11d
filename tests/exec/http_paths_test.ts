import assert from "node:assert/strict";
import { pathProblem, requestProblem } from "../../src/exec/workers/_http_paths.ts";
import { SMUGGLED_PATHS } from "./_smuggled_paths.ts";

for (const [kind, paths] of Object.entries(SMUGGLED_PATHS)) {
  Deno.test(`pathProblem() refuses ${kind} before any glob is matched`, () => {
    for (const path of paths) {
      const problem = pathProblem(path);
      assert.ok(problem, `${JSON.stringify(path)} was accepted`);
      assert.match(problem, /^Invalid path ".*": expected /);
      // The glob would have admitted many of them; the refusal comes first.
      assert.equal(
        requestProblem({ method: "GET", path }, { methods: ["GET"], paths: ["/**"] }),
        problem,
      );
    }
  });
}

Deno.test("pathProblem() says which class of character it refused", () => {
  assert.match(pathProblem("/api/..;/admin")!, /no ";" path parameters/);
  assert.match(pathProblem("/api\\x")!, /no backslashes/);
  assert.match(pathProblem("/api/%2e%2e/x")!, /no escaped "\/", "\\", "\."/);
  assert.match(pathProblem("/api/%c0%ae")!, /valid UTF-8/);
  assert.match(pathProblem("/a/../b")!, /no "\." or "\.\." segments/);
  assert.match(pathProblem("/" + "a".repeat(2048))!, /at most 2048 characters/);
});

Deno.test("pathProblem() accepts ordinary paths, escapes of ordinary characters and UTF-8", () => {
  for (
    const path of [
      "/",
      "/api/",
      "/api/v1.2/items/file.tar.gz",
      "/api/a%20b",
      "/api/user%40example.com",
      "/api/caf%C3%A9",
      "/api/~me/x-y_z",
      "/api/a:b@c!$&'()*+,=",
      "/api/.well-known",
    ]
  ) {
    assert.equal(pathProblem(path), undefined, path);
  }
});
