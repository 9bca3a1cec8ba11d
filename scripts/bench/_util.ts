/**
 * Shared pieces of the benchmark suites: options, timing loops bounded in
 * count and time, percentiles, markdown tables, the summary of metrics, and
 * reading a process's memory from `/proc`.
 *
 * @module
 */

/** Command-line options every suite gets. */
export interface BenchOptions {
  /** Fewer iterations. */
  readonly quick: boolean;
}

/** One figure for the summary table. */
export interface Metric {
  readonly suite: string;
  readonly name: string;
  /** The figure as printed, with its unit. */
  readonly value: string;
  /** The target as printed, or "" when the figure is informational. */
  readonly target: string;
  /** `true` PASS, `false` MISS, `null` no target. */
  readonly pass: boolean | null;
}

/** What a suite hands back: its markdown table(s) and its metrics. */
export interface SuiteReport {
  readonly title: string;
  /** Markdown blocks (tables and notes), printed in order. */
  readonly blocks: readonly string[];
  readonly metrics: readonly Metric[];
  /** Set when the suite did not run, with the reason. */
  readonly skipped?: string;
}

/** Latency figures of a run, in milliseconds. */
export interface Latencies {
  readonly count: number;
  readonly failures: number;
  readonly wallMs: number;
  readonly callsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly mean: number;
  /** First failure message, if any. */
  readonly firstError?: string;
}

/**
 * The value at percentile `p` (nearest rank) of ascending samples.
 *
 * @param sorted Ascending samples.
 * @param p Percentile between 0 and 100.
 * @returns The sample, or NaN when there are none.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/**
 * The median of samples.
 *
 * @param samples Any order.
 * @returns The median (nearest rank), or NaN when empty.
 */
export function median(samples: readonly number[]): number {
  return percentile([...samples].sort((a, b) => a - b), 50);
}

function summarize(samples: number[], failures: number, wallMs: number, error?: string) {
  const sorted = samples.sort((a, b) => a - b);
  const ok = sorted.length;
  return {
    count: ok + failures,
    failures,
    wallMs,
    callsPerSecond: ok / (wallMs / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    mean: ok === 0 ? NaN : sorted.reduce((a, b) => a + b, 0) / ok,
    ...(error === undefined ? {} : { firstError: error }),
  };
}

/**
 * Runs `call` up to `count` times with `concurrency` in flight, stopping early
 * (no new calls) after `maxMs`. A call that throws counts as a failure.
 *
 * @param count Calls to make.
 * @param concurrency Calls in flight at once (1 = sequential).
 * @param call One call; throw to report a failure.
 * @param maxMs Time budget for the whole run.
 * @returns Latencies of the calls that succeeded, failures, wall time.
 */
export async function timeCalls(
  count: number,
  concurrency: number,
  call: (index: number) => Promise<void>,
  maxMs = 120_000,
): Promise<Latencies> {
  const samples: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const deadline = started + maxMs;
  const lane = async () => {
    while (next < count && performance.now() < deadline) {
      const index = next++;
      const t0 = performance.now();
      try {
        await call(index);
        samples.push(performance.now() - t0);
      } catch (error) {
        failures++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, lane));
  return summarize(samples, failures, performance.now() - started, firstError);
}

/**
 * Formats milliseconds for a table.
 *
 * @param ms Milliseconds.
 * @returns E.g. `"1.23 ms"`, `"812 ms"`, `"4.10 s"`.
 */
export function ms(ms: number): string {
  if (!Number.isFinite(ms)) return "n/a";
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

/**
 * Formats a ratio.
 *
 * @param value The ratio.
 * @returns E.g. `"1.18×"`.
 */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}×` : "n/a";
}

/**
 * Formats a rate.
 *
 * @param perSecond Calls per second.
 * @returns E.g. `"812/s"`.
 */
export function rate(perSecond: number): string {
  return Number.isFinite(perSecond) ? `${perSecond.toFixed(0)}/s` : "n/a";
}

/**
 * Formats kibibytes as mebibytes.
 *
 * @param kib KiB, or null when unknown.
 * @returns E.g. `"61.2 MB"`.
 */
export function mb(kib: number | null): string {
  return kib === null ? "n/a" : `${(kib / 1024).toFixed(1)} MB`;
}

/**
 * A markdown table.
 *
 * @param header Column names.
 * @param rows Cells.
 * @returns The table text.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/**
 * Reads a memory figure of a process from `/proc/PID/status`.
 *
 * @param pid The process.
 * @param field `VmHWM` (peak resident set) or `VmRSS` (current).
 * @returns KiB, or null when the process is gone.
 */
export function memoryKib(pid: number, field: "VmHWM" | "VmRSS"): number | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

/**
 * CPU time a process has used so far, all its threads (user + system), from
 * `/proc/PID/stat`. Unlike elapsed time it hardly moves with the load of
 * other processes on a shared machine; its resolution is the kernel's clock
 * tick (10 ms here).
 *
 * @param pid The process.
 * @returns Milliseconds, or null when the process is gone.
 */
export function cpuMs(pid: number): number | null {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the command name (which may hold spaces) start at "state";
    // utime and stime are fields 14 and 15, in clock ticks (USER_HZ = 100).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return null;
  }
}

/**
 * A metric compared with an upper bound.
 *
 * @param suite Suite name.
 * @param name What was measured.
 * @param measured The figure.
 * @param max The bound (the metric passes when `measured <= max`).
 * @param format How to print both.
 * @returns The metric.
 */
export function atMost(
  suite: string,
  name: string,
  measured: number,
  max: number,
  format: (value: number) => string,
): Metric {
  return {
    suite,
    name,
    value: format(measured),
    target: `≤ ${format(max)}`,
    pass: Number.isFinite(measured) ? measured <= max : false,
  };
}

/**
 * An informational metric (no target).
 *
 * @param suite Suite name.
 * @param name What was measured.
 * @param value The printed figure.
 * @returns The metric.
 */
export function info(suite: string, name: string, value: string): Metric {
  return { suite, name, value, target: "", pass: null };
}

/**
 * Waits for a promise, giving up after `timeoutMs`.
 *
 * @param promise The promise.
 * @param timeoutMs Limit.
 * @param what What is awaited, for the error.
 * @returns Its value.
 * @throws {Error} On timeout.
 */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** The repository root (where deno.json is). */
export const REPO_ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/**
 * Runs several kinds of call in turn, one of each per round, so that drift in
 * machine load hits every kind alike. Sequential only.
 *
 * @param count Rounds.
 * @param calls One call per kind; throw to report a failure.
 * @param maxMs Time budget for the whole run.
 * @returns Latencies per kind (calls/s from the kind's own time).
 */
export async function timeInterleaved(
  count: number,
  calls: readonly (() => Promise<void>)[],
  maxMs = 120_000,
): Promise<Latencies[]> {
  const samples = calls.map(() => [] as number[]);
  const failures = calls.map(() => 0);
  const errors: (string | undefined)[] = calls.map(() => undefined);
  const deadline = performance.now() + maxMs;
  for (let round = 0; round < count && performance.now() < deadline; round++) {
    for (let k = 0; k < calls.length; k++) {
      const t0 = performance.now();
      try {
        await calls[k]();
        samples[k].push(performance.now() - t0);
      } catch (error) {
        failures[k]++;
        errors[k] ??= error instanceof Error ? error.message : String(error);
      }
    }
  }
  return samples.map((s, k) => summarize(s, failures[k], s.reduce((a, b) => a + b, 0), errors[k]));
}

/**
 * A count that must be zero.
 *
 * @param suite Suite name.
 * @param name What was counted.
 * @param count The count.
 * @returns The metric.
 */
export function zero(suite: string, name: string, count: number): Metric {
  return { suite, name, value: String(count), target: "0", pass: count === 0 };
}
