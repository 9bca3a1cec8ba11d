/**
 * Test helper: the chain part of a verify report (without checkpoint coverage and notices).
 *
 * @module
 */
import type { VerifyReport } from "../../src/audit/verify.ts";

/**
 * Keeps `ok`, `count` and `lastHash` of an ok report; a failure is returned whole.
 *
 * @param report A verify report.
 * @returns The comparable part.
 */
export function chainOf(report: VerifyReport): unknown {
  return report.ok ? { ok: true, count: report.count, lastHash: report.lastHash } : report;
}
