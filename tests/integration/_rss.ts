/**
 * Resident memory of a process, read from /proc (Linux), for tests that
 * bound how much memory a call may take.
 *
 * @module
 */

/** Resident set size now, and its peak since start or the last reset, in bytes. */
export interface Rss {
  readonly now: number;
  readonly peak: number;
}

/**
 * Reads a process's resident memory from `/proc/PID/status`.
 *
 * @param pid The process.
 * @returns Current and peak resident bytes.
 */
export function readRss(pid: number): Rss {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`No ${name} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { now: kib("VmRSS"), peak: kib("VmHWM") };
}

/**
 * Resets the peak resident size of a process to its current size (writes
 * `5` to `/proc/PID/clear_refs`; needs to own the process or root).
 *
 * @param pid The process.
 */
export function resetPeakRss(pid: number): void {
  Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
}
