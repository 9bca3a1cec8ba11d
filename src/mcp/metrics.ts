/**
 * Call counters and latency histograms, rendered in the Prometheus text
 * format. Labels are tool and outcome only: target ids stay out, so the
 * series count is bounded by the catalog.
 *
 * @module
 */
import type { ToolResult } from "./envelope.ts";

/** Upper bounds of the latency histogram, in seconds. */
export const LATENCY_BUCKETS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
] as const;

interface Series {
  count: number;
  sum: number;
  buckets: number[];
}

/** A gauge read when metrics are rendered. */
export type Gauge = { name: string; help: string; read: () => number };

/** Counts what calls came to, per tool and per target outcome. */
export class CallMetrics {
  readonly #calls = new Map<string, number>();
  readonly #latency = new Map<string, Series>();
  readonly #errors = new Map<string, number>();

  /**
   * Records a finished call: one count per target outcome, and each target's duration.
   *
   * @param result The call's structured result.
   */
  record(result: ToolResult): void {
    for (const entry of result.results) {
      const key = `${result.tool}\u0000${entry.status}`;
      this.#calls.set(key, (this.#calls.get(key) ?? 0) + 1);
      if (entry.status === "ok" || entry.status === "failed" || entry.status === "timeout") {
        const series = this.#latency.get(result.tool) ??
          { count: 0, sum: 0, buckets: LATENCY_BUCKETS.map(() => 0) };
        const seconds = entry.duration_ms / 1000;
        series.count++;
        series.sum += seconds;
        LATENCY_BUCKETS.forEach((bound, i) => {
          if (seconds <= bound) series.buckets[i]++;
        });
        this.#latency.set(result.tool, series);
      }
    }
  }

  /**
   * Records a call that failed before any target ran (bad selection, rate limit, audit down).
   *
   * @param tool The tool.
   * @param code The error code.
   */
  recordError(tool: string, code: string): void {
    const key = `${tool}\u0000${code}`;
    this.#errors.set(key, (this.#errors.get(key) ?? 0) + 1);
  }

  /**
   * Renders every series.
   *
   * @param gauges Values read now (sessions, audit records).
   * @returns Prometheus text exposition format.
   */
  render(gauges: readonly Gauge[] = []): string {
    const lines: string[] = [];
    const label = (v: string) =>
      v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
    lines.push("# HELP tailops_target_calls_total Target outcomes of tool calls.");
    lines.push("# TYPE tailops_target_calls_total counter");
    for (const [key, n] of [...this.#calls].sort()) {
      const [tool, status] = key.split("\u0000");
      lines.push(
        `tailops_target_calls_total{tool="${label(tool)}",status="${label(status)}"} ${n}`,
      );
    }
    lines.push("# HELP tailops_call_errors_total Tool calls refused before any target ran.");
    lines.push("# TYPE tailops_call_errors_total counter");
    for (const [key, n] of [...this.#errors].sort()) {
      const [tool, code] = key.split("\u0000");
      lines.push(`tailops_call_errors_total{tool="${label(tool)}",code="${label(code)}"} ${n}`);
    }
    lines.push("# HELP tailops_target_call_seconds Time per target call, run to result.");
    lines.push("# TYPE tailops_target_call_seconds histogram");
    for (const [tool, s] of [...this.#latency].sort()) {
      const t = label(tool);
      LATENCY_BUCKETS.forEach((bound, i) => {
        lines.push(`tailops_target_call_seconds_bucket{tool="${t}",le="${bound}"} ${s.buckets[i]}`);
      });
      lines.push(`tailops_target_call_seconds_bucket{tool="${t}",le="+Inf"} ${s.count}`);
      lines.push(`tailops_target_call_seconds_sum{tool="${t}"} ${s.sum}`);
      lines.push(`tailops_target_call_seconds_count{tool="${t}"} ${s.count}`);
    }
    for (const gauge of gauges) {
      lines.push(
        `# HELP ${gauge.name} ${gauge.help}`,
        `# TYPE ${gauge.name} gauge`,
        `${gauge.name} ${gauge.read()}`,
      );
    }
    return `${lines.join("\n")}\n`;
  }
}
