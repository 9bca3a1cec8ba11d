import assert from "node:assert/strict";
import { DEFAULT_APPROVAL_TERMS, strictestTerms } from "../../src/gate/approval_terms.ts";

const CONFIRM = { ttlMs: 900_000, separationOfDuties: false, confirm: true };
const SOD = { ttlMs: 600_000, separationOfDuties: true, confirm: false };
const SELF = { ttlMs: 60_000, separationOfDuties: false, confirm: false };

Deno.test("strictestTerms() lets separation of duties win over confirm, in either order", () => {
  for (const terms of [[CONFIRM, SOD], [SOD, CONFIRM]]) {
    const combined = strictestTerms(terms);
    assert.equal(combined.separationOfDuties, true);
    assert.equal(combined.confirm, false);
  }
});

Deno.test("strictestTerms() keeps the shortest time to live of all rules", () => {
  assert.equal(strictestTerms([CONFIRM, SOD, SELF]).ttlMs, 60_000);
  assert.equal(strictestTerms([SELF, CONFIRM]).ttlMs, 60_000);
});

Deno.test("strictestTerms() allows self-confirmation only when every rule allows it", () => {
  assert.deepEqual(strictestTerms([CONFIRM, CONFIRM]), CONFIRM);
  assert.deepEqual(strictestTerms([CONFIRM, SELF]), {
    ttlMs: 60_000,
    separationOfDuties: false,
    confirm: false,
  });
});

Deno.test("strictestTerms() reads a rule without terms as the strict default", () => {
  assert.deepEqual(strictestTerms([CONFIRM, undefined]), DEFAULT_APPROVAL_TERMS);
});

Deno.test("strictestTerms() refuses an empty list instead of inventing lenient terms", () => {
  assert.throws(() => strictestTerms([]), RangeError);
});
