/**
 * `deno task bench [-- --only=gateway,ssh,docker,http,scale,wire,shared] [--quick]`: runs the
 * benchmark suites and prints one markdown table per suite, then a summary of
 * every figure with its target. Each comparison is against a baseline
 * measured in the same run; nothing here asserts, since machines are shared
 * and noisy. Everything started is stopped by PID and temp dirs are removed.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { runDocker } from "./bench/docker.ts";
import { runGateway, toolListMetrics } from "./bench/gateway.ts";
import { runHttp } from "./bench/http.ts";
import { runScale } from "./bench/scale.ts";
import { runSsh } from "./bench/ssh.ts";
import { runWire } from "./bench/wire.ts";
import { runShared } from "./bench/shared_state.ts";
import { type BenchOptions, type Metric, type SuiteReport, table } from "./bench/_util.ts";

const SUITES: Record<string, (options: BenchOptions) => Promise<SuiteReport>> = {
  gateway: runGateway,
  ssh: runSsh,
  docker: runDocker,
  http: runHttp,
  scale: runScale,
  wire: runWire,
  shared: runShared,
};

const USAGE =
  "Usage: deno task bench [-- --only=gateway,ssh,docker,http,scale,wire,shared] [--quick]";

async function machine(): Promise<string> {
  const cpus =
    (await Deno.readTextFile("/proc/cpuinfo")).split("\n").filter((l) => l.startsWith("processor"))
      .length;
  const model = (await Deno.readTextFile("/proc/cpuinfo")).match(/^model name\s*:\s*(.*)$/m)?.[1];
  const memKib = Number(
    (await Deno.readTextFile("/proc/meminfo")).match(/^MemTotal:\s+(\d+)/m)?.[1] ?? NaN,
  );
  const nproc = await new Deno.Command("nproc", { stdout: "piped", stderr: "null" }).output()
    .then((o) => new TextDecoder().decode(o.stdout).trim(), () => String(cpus));
  return table(["Machine", ""], [
    ["date (UTC)", new Date().toISOString().replace(/\.\d+Z$/, "Z")],
    ["nproc", nproc],
    ["cpu", model ?? "unknown"],
    ["memory", `${(memKib / 1024 / 1024).toFixed(1)} GiB`],
    ["kernel", Deno.osRelease()],
    ["deno", `${Deno.version.deno} (v8 ${Deno.version.v8}, typescript ${Deno.version.typescript})`],
    [
      "load average at start",
      (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" "),
    ],
  ]);
}

function summary(metrics: readonly Metric[]): string {
  return table(
    ["Suite", "Metric", "Measured", "Target", "Result"],
    metrics.map((m) => [
      m.suite,
      m.name,
      m.value,
      m.target || "—",
      m.pass === null ? "info" : m.pass ? "PASS" : "MISS",
    ]),
  );
}

async function main(args: string[]): Promise<number> {
  // `deno task bench -- --quick` passes the `--` through; the flags follow it.
  const parsed = parseArgs({
    args: args[0] === "--" ? args.slice(1) : args,
    options: { only: { type: "string" }, quick: { type: "boolean" }, help: { type: "boolean" } },
    strict: true,
  });
  if (parsed.values.help) {
    console.log(USAGE);
    return 0;
  }
  const only = parsed.values.only?.split(",").map((s) => s.trim()).filter(Boolean) ??
    Object.keys(SUITES);
  const unknown = only.filter((name) => !(name in SUITES));
  if (unknown.length > 0) {
    console.error(
      `Unknown suite ${JSON.stringify(unknown[0])}: expected ${Object.keys(SUITES).join(", ")}`,
    );
    return 2;
  }
  const options: BenchOptions = { quick: parsed.values.quick === true };
  console.log(`# TailOpsMCP benchmarks${options.quick ? " (--quick)" : ""}\n`);
  console.log(await machine());
  console.log(
    "\nEvery ratio compares with a baseline measured in this run. HTTP gateways run with " +
      "bearer auth, the gate and the audit log (`--fsync batch`) under the shipped " +
      "observe-only policy, its observe rate limit raised to 1,000,000/min so the limiter " +
      "runs but does not refuse (the default, 3000/min with a burst of 600, refuses a " +
      "benchmark's call rate).",
  );
  // Every conversation pays for the tool list: print it whichever suites run.
  const toolList = toolListMetrics();
  console.log(`\n${toolList.line}`);
  const metrics: Metric[] = [...toolList.metrics];
  for (const name of only) {
    const started = performance.now();
    console.log(`\n## ${name}\n`);
    let report: SuiteReport;
    try {
      report = await SUITES[name](options);
    } catch (error) {
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      console.log(`FAILED: ${message}`);
      metrics.push({ suite: name, name: "suite", value: "failed", target: "runs", pass: false });
      continue;
    }
    if (report.skipped) {
      console.log(`skipped: ${report.skipped}`);
      metrics.push({
        suite: name,
        name: "suite",
        value: `skipped: ${report.skipped}`,
        target: "",
        pass: null,
      });
      continue;
    }
    console.log(`### ${report.title}\n`);
    console.log(report.blocks.join("\n\n"));
    console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s)`);
    metrics.push(...report.metrics);
  }
  const load = (await Deno.readTextFile("/proc/loadavg")).split(" ").slice(0, 3).join(" ");
  console.log(
    `\n## Summary\n\nLoad average at the end: ${load} (on ${navigator.hardwareConcurrency} CPUs).\n`,
  );
  console.log(summary(metrics));
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    console.error(USAGE);
    Deno.exit(2);
  }
}
