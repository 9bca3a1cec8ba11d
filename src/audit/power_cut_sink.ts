/**
 * A test hook that makes a gateway crash look like a power cut to its audit
 * log: written records stay in memory until their sync, which first pauses.
 * Set `TAILOPS_TEST_AUDIT_POWER_CUT_MS=N` (tests only, never in production:
 * it delays every audit sync by N ms) and SIGKILL the gateway: what is in the
 * file afterwards is exactly what a power cut at that moment would have left
 * (the synced records), so a test can check that no mutation ran without a
 * synced `decided` record.
 *
 * @module
 */
import { writeAllSync } from "./_side_files.ts";
import type { AuditSink } from "./writer_options.ts";

/** The variable that turns the hook on, with the pause before each sync in ms. */
export const POWER_CUT_ENV = "TAILOPS_TEST_AUDIT_POWER_CUT_MS";

/**
 * Keeps written bytes in memory and puts them in the file only at the next
 * sync, after `pauseMs`. The bytes a sync puts in the file are those written
 * before it started, as with `fdatasync`.
 *
 * @param file The open log file.
 * @param pauseMs How long each sync waits before it writes and syncs.
 * @returns The sink the writer uses.
 */
export function powerCutSink(file: AuditSink, pauseMs: number): AuditSink {
  const pending: Uint8Array[] = [];
  const keep = (data: Uint8Array) => {
    pending.push(data.slice());
    return data.length;
  };
  return {
    write: (data) => Promise.resolve(keep(data)),
    writeSync: keep,
    syncData: async () => {
      const covered = pending.splice(0);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      for (const bytes of covered) writeAllSync(file, bytes);
      await file.syncData();
    },
    close: () => file.close(),
  };
}

/**
 * The hook's `wrapFile` when {@linkcode POWER_CUT_ENV} is set to a whole
 * number of milliseconds, else `undefined`. Needs `env` permission for the
 * variable (without it the hook is off).
 *
 * @returns The file wrapper, or `undefined`.
 * @throws {RangeError} When the variable is set to something else than 0–60000.
 */
export function powerCutSinkFromEnv(): ((file: AuditSink) => AuditSink) | undefined {
  let value: string | undefined;
  try {
    value = Deno.env.get(POWER_CUT_ENV);
  } catch {
    return undefined;
  }
  if (value === undefined || value === "") return undefined;
  const ms = Number(value);
  if (!/^\d+$/.test(value) || ms > 60_000) {
    throw new RangeError(
      `Invalid ${POWER_CUT_ENV} ${
        JSON.stringify(value)
      }: expected a whole number of milliseconds up to 60000`,
    );
  }
  return (file) => powerCutSink(file, ms);
}
