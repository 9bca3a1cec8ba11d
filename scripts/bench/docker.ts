import type { BenchOptions, SuiteReport } from "./_util.ts";
export function runDocker(_options: BenchOptions): Promise<SuiteReport> {
  return Promise.resolve({ title: "docker", blocks: [], metrics: [], skipped: "not written yet" });
}
