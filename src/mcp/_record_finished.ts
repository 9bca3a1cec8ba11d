/**
 * The `finished` record of a target that ran. If the audit log cannot take
 * it, the call has still happened: the client is told it ran and could not
 * be recorded, never that the gateway "refuses to run calls".
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { AuditEntry } from "../audit/record.ts";
import type { CallDeps } from "./call_deps.ts";
import type { TargetResult } from "./envelope.ts";

const log = getLogger(["tailops", "call"]);

/** True for the audit log's own error (by name: no import of the writer here). */
export function isAuditError(error: unknown): error is Error & { held?: boolean } {
  return error instanceof Error && error.name === "AuditError";
}

/**
 * Appends a target's `finished` record (not waiting for its sync) and
 * returns the target's entry, with a `warning` when the record could not be
 * written.
 *
 * @param deps The audit log.
 * @param entry The target's result, as the client will get it.
 * @param finished The record.
 * @returns The entry, marked when its end is not recorded.
 * @throws {TypeError} When the record does not match the schema (a bug, not a log failure).
 */
export async function recordFinished(
  deps: Pick<CallDeps, "audit">,
  entry: TargetResult,
  finished: AuditEntry,
): Promise<TargetResult> {
  try {
    await deps.audit.append(finished, { durable: false });
    return entry;
  } catch (error) {
    if (!isAuditError(error)) throw error;
    log.error("Call ran on {target} but its finished record was not written: {error}", {
      target: entry.target,
      error: error.message,
    });
    const later = error.held
      ? "the gateway keeps the record and writes it once the log can be written again"
      : "the record is lost";
    return {
      ...entry,
      warning: {
        code: "audit_unrecorded",
        message:
          `This call ran on "${entry.target}", but the audit log could not record how it ended (${later}); the gateway runs no new calls until the log can be written`,
      },
    };
  }
}
