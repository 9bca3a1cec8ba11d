/**
 * The process's own Prometheus metrics, under the names client libraries
 * use (`process_*`), and `tailops_build_info`.
 *
 * Deno counts `/proc/self` (and `/dev/fd`) as needing every permission, so a
 * gateway under its derived set cannot read its descriptor count or limit:
 * `process_open_fds` and `process_max_fds` appear only when they can be read
 * (full permissions). Memory and CPU time come from the runtime and need none.
 *
 * @module
 */
import process from "node:process";
import { VERSION } from "../version.ts";

/** When this process started, in seconds since the epoch (module load is close enough). */
const START_SECONDS = Math.round((Date.now() - performance.now()) / 10) / 100;

/** Whether `/proc/self` can be read: Deno asks for every permission there, `run` included. */
function procReadable(): boolean {
  // Asked first, so that a development run without --no-prompt is never prompted.
  return Deno.permissions.querySync({ name: "run" }).state === "granted";
}

function openFds(): number | undefined {
  if (!procReadable()) return undefined;
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    return count;
  } catch {
    return undefined;
  }
}

function maxFds(): number | undefined {
  if (!procReadable()) return undefined;
  try {
    const m = /^Max open files\s+(\d+)/m.exec(Deno.readTextFileSync("/proc/self/limits"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function metric(name: string, type: string, help: string, value: number | undefined): string[] {
  return value === undefined
    ? []
    : [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`];
}

/**
 * Renders the process metrics and build info.
 *
 * @returns Prometheus text, one metric per block, ending in a newline.
 */
export function renderProcessMetrics(): string {
  const cpu = process.cpuUsage();
  const label = (value: string) => value.replace(/[\\"\n]/g, "_");
  const lines = [
    "# HELP tailops_build_info The gateway's version and runtime; always 1.",
    "# TYPE tailops_build_info gauge",
    `tailops_build_info{version="${label(VERSION)}",deno="${label(Deno.version.deno)}",v8="${
      label(Deno.version.v8)
    }",typescript="${label(Deno.version.typescript)}"} 1`,
    ...metric(
      "process_resident_memory_bytes",
      "gauge",
      "Resident memory size in bytes.",
      Deno.memoryUsage().rss,
    ),
    ...metric(
      "process_cpu_seconds_total",
      "counter",
      "User and system CPU time spent, in seconds.",
      (cpu.user + cpu.system) / 1e6,
    ),
    ...metric(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since the Unix epoch, in seconds.",
      START_SECONDS,
    ),
    ...metric("process_open_fds", "gauge", "Open file descriptors.", openFds()),
    ...metric("process_max_fds", "gauge", "The open file descriptor limit.", maxFds()),
  ];
  return `${lines.join("\n")}\n`;
}
