import assert from "node:assert/strict";
import { readiness } from "../../src/http/readiness.ts";

Deno.test("readiness() is ok when every check passes and names each failing check otherwise", () => {
  let auditFailing = false;
  const ready = readiness([
    { name: "audit", check: () => auditFailing ? "the audit log cannot be written" : undefined },
    { name: "workers", check: () => undefined },
    { name: "state", check: () => auditFailing ? "unreachable" : undefined },
  ]);
  assert.deepEqual(ready(), { ok: true });
  auditFailing = true;
  assert.deepEqual(ready(), {
    ok: false,
    reason: "audit: the audit log cannot be written; state: unreachable",
  });
  assert.deepEqual(readiness([])(), { ok: true });
});
