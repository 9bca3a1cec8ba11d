/**
 * The PostgreSQL driver removes every listener from a socket once it has
 * closed; a write still pending on it then fails with EPIPE (or ECONNRESET)
 * and Deno's node:net emits that `error` event with no listener, which
 * surfaces as an uncaught error (or unhandled rejection) and ends the process. Seen here about
 * once in ten restarts of PostgreSQL under calls. The connection is already
 * gone and handled (its statement failed and was retried or refused), so
 * such a late error is logged and absorbed; every other unhandled rejection
 * still ends the process.
 *
 * Private to `src/state`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";

const log = getLogger(["tailops", "state"]);

/** Socket errors a closed connection may still report. */
const LATE_CODES = new Set(["EPIPE", "ECONNRESET"]);

let installed = false;

/**
 * Whether an unhandled rejection is a dead socket's late write or read error.
 *
 * @param reason The rejection's reason.
 * @returns True for an Error with code EPIPE or ECONNRESET from a socket `write` or `read`.
 */
export function isLateSocketError(reason: unknown): boolean {
  if (!(reason instanceof Error)) return false;
  const e = reason as Error & { code?: unknown; syscall?: unknown };
  return typeof e.code === "string" && LATE_CODES.has(e.code) &&
    (e.syscall === "write" || e.syscall === "read");
}

/** Absorbs late socket errors for the rest of the process's life (idempotent). */
export function absorbLateSocketErrors(): void {
  if (installed) return;
  installed = true;
  const absorb = (reason: unknown, event: Event) => {
    if (!isLateSocketError(reason)) return;
    event.preventDefault();
    log.warn("Ignored a late {code} from a closed shared-state connection", {
      code: (reason as { code: string }).code,
    });
  };
  // Deno's node:net throws it from a write callback (an uncaught error) or
  // from a promise reaction (an unhandled rejection), depending on the path.
  globalThis.addEventListener("error", (event) => absorb(event.error, event));
  globalThis.addEventListener("unhandledrejection", (event) => absorb(event.reason, event));
}
