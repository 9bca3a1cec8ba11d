import type { BenchOptions, SuiteReport } from "./_util.ts";
export function runHttp(_options: BenchOptions): Promise<SuiteReport> {
  return Promise.resolve({ title: "http", blocks: [], metrics: [], skipped: "not written yet" });
}
