import type { BenchOptions, SuiteReport } from "./_util.ts";
export function runSsh(_options: BenchOptions): Promise<SuiteReport> {
  return Promise.resolve({ title: "ssh", blocks: [], metrics: [], skipped: "not written yet" });
}
