import assert from "node:assert/strict";
import { BudgetBusyError, ByteBudget } from "../../src/exec/byte_budget.ts";

const WAIT = { waitMs: 60_000 };

Deno.test("ByteBudget lets reservations through while they fit and makes the rest wait", async () => {
  const budget = new ByteBudget(100);
  const a = await budget.reserve(60, WAIT);
  const b = await budget.reserve(40, WAIT);
  assert.equal(budget.free, 0);
  let third = false;
  const c = budget.reserve(50, WAIT).then((r) => (third = true, r));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(third, false, "the third waits while the budget is spent");
  a.release();
  const got = await c;
  assert.equal(got.bytes, 50);
  assert.equal(budget.free, 10);
  b.release();
  got.release();
  got.release();
  assert.equal(budget.free, 100, "a second release gives nothing back twice");
});

Deno.test("ByteBudget shrinking a reservation frees bytes for waiters", async () => {
  const budget = new ByteBudget(100);
  const big = await budget.reserve(100, WAIT);
  const waiting = budget.reserve(70, WAIT);
  big.shrink(30);
  assert.equal(big.bytes, 30);
  const granted = await waiting;
  assert.equal(budget.free, 0);
  big.shrink(500);
  assert.equal(big.bytes, 30, "shrink never raises");
  big.release();
  granted.release();
  assert.equal(budget.free, 100);
});

Deno.test("ByteBudget refuses as busy after the bounded wait, and the wait can be aborted", async () => {
  const budget = new ByteBudget(10);
  const held = await budget.reserve(10, WAIT);
  await assert.rejects(budget.reserve(5, { waitMs: 30 }), BudgetBusyError);
  const controller = new AbortController();
  const aborted = budget.reserve(5, { waitMs: 60_000, signal: controller.signal });
  controller.abort(new Error("client went away"));
  await assert.rejects(aborted, /client went away/);
  held.release();
  assert.equal(budget.free, 10, "refused and aborted waits hold nothing");
});

Deno.test("ByteBudget lets a small reservation pass a large one that waits, and caps one at the total", async () => {
  const budget = new ByteBudget(100);
  const held = await budget.reserve(50, WAIT);
  const large = budget.reserve(80, WAIT);
  const small = await budget.reserve(20, WAIT);
  assert.equal(small.bytes, 20);
  small.release();
  held.release();
  const got = await large;
  got.release();
  const huge = await budget.reserve(10_000, WAIT);
  assert.equal(huge.bytes, 100, "a call larger than the budget may still run alone");
  huge.release();
});
