/**
 * Combining the approval terms of several rules: when one call needs the
 * approval of more than one rule (a call over several targets, or several
 * approve rules matching one target), the strictest terms of them all apply,
 * so a lenient rule on one target never lends its leniency to another.
 * Pure; no I/O.
 *
 * @module
 */
import { type ApprovalTerms, DEFAULT_APPROVAL_TTL_MS } from "./policy.ts";

/** The terms of an approve rule that states none: 15 minutes, separation of duties. */
export const DEFAULT_APPROVAL_TERMS: ApprovalTerms = Object.freeze({
  ttlMs: DEFAULT_APPROVAL_TTL_MS,
  separationOfDuties: true,
  confirm: false,
});

/**
 * The strictest combination of approval terms: separation of duties when any
 * rule demands it (and then no self-confirmation), self-confirmation only when
 * every rule allows it, and the shortest time to live.
 *
 * @param terms The terms of each rule that asks for approval (`undefined`
 *   stands for {@linkcode DEFAULT_APPROVAL_TERMS}).
 * @returns Terms that meet every rule's requirement at once.
 * @throws {RangeError} When `terms` is empty: there is nothing to combine.
 *
 * @example
 * ```ts
 * strictestTerms([
 *   { ttlMs: 900_000, separationOfDuties: false, confirm: true },
 *   { ttlMs: 60_000, separationOfDuties: true, confirm: false },
 * ]); // { ttlMs: 60_000, separationOfDuties: true, confirm: false }
 * ```
 */
export function strictestTerms(
  terms: readonly (ApprovalTerms | undefined)[],
): ApprovalTerms {
  if (terms.length === 0) {
    throw new RangeError("Cannot combine approval terms: expected at least one rule's terms");
  }
  const all = terms.map((t) => t ?? DEFAULT_APPROVAL_TERMS);
  const separationOfDuties = all.some((t) => t.separationOfDuties);
  return Object.freeze({
    ttlMs: Math.min(...all.map((t) => t.ttlMs)),
    separationOfDuties,
    confirm: !separationOfDuties && all.every((t) => t.confirm),
  });
}
