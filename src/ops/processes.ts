/**
 * `top_processes`: the processes using the most CPU or memory, read with
 * procps `ps` and sorted here.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";

const processSchema = z.object({
  pid: z.number(),
  ppid: z.number(),
  user: z.string(),
  cpu_percent: z.number(),
  memory_percent: z.number(),
  rss_bytes: z.number(),
  elapsed_seconds: z.number(),
  name: z.string(),
  command: z.string(),
});

/** The busiest processes of one host. */
export const topProcessesOutput = z.object({
  sort: z.enum(["cpu", "memory"]),
  total_processes: z.number(),
  processes: z.array(processSchema),
});

/** The output of `top_processes`. */
export type TopProcesses = z.infer<typeof topProcessesOutput>;

/** Columns asked of `ps`: no headers; `comm` padded to 15 so `args` starts at a fixed place. */
export const PS_FORMAT = "pid=,ppid=,user:32=,pcpu=,pmem=,rss=,etimes=,comm:15=,args=";
// Seven space-free fields, then comm (15 wide, may hold spaces), then args.
const PS_LINE =
  /^\s*(\d+)\s+(\d+)\s+(\S+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+) (.{1,15})(?: (.*))?$/;
const MAX_COMMAND = 512;

/**
 * Parses `ps -eo` output in {@link PS_FORMAT}.
 *
 * @param stdout What ps printed.
 * @returns One entry per process line.
 * @throws {OperationError} `bad_output` when no line can be read.
 */
export function parsePs(stdout: string): TopProcesses["processes"] {
  const lines = stdout.split("\n").filter((l) => l.trim() !== "");
  const rows = lines.flatMap((line) => {
    const m = line.match(PS_LINE);
    if (!m) return [];
    const command = (m[9] ?? "").trim();
    return [{
      pid: Number(m[1]),
      ppid: Number(m[2]),
      user: m[3],
      cpu_percent: Number(m[4]),
      memory_percent: Number(m[5]),
      rss_bytes: Number(m[6]) * 1024,
      elapsed_seconds: Number(m[7]),
      name: m[8].trim(),
      // Command lines can be huge (Java class paths); keep the start.
      command: command.length > MAX_COMMAND ? `${command.slice(0, MAX_COMMAND)}…` : command,
    }];
  });
  if (rows.length === 0) badOutput("ps", "one line per process");
  return rows;
}

/** The processes using the most CPU or memory. */
export const topProcesses = defineOperation({
  name: "top_processes",
  title: "Top processes",
  description:
    "The top `limit` processes by `sort`: cpu (percent of one core over the process lifetime) or memory (RSS). Each: pid, ppid, user, CPU %, memory %, RSS bytes, elapsed seconds, name, command line. Needs procps ps.",
  input: z.strictObject({
    sort: z.enum(["cpu", "memory"]).default("cpu"),
    limit: z.int().min(1).max(100).default(10),
  }),
  output: topProcessesOutput,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["ps"],
  // Sorting happens in parse: busybox and old procps differ on --sort, and
  // piping into head would need a shell.
  plan: (_args, target) => ({
    kind: "exec",
    commands: [["ps", "-eo", PS_FORMAT]],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result, args) => {
    const [ps] = execCommands(result, 1);
    throwCommonFailure(ps, "procps");
    if (/bad -o argument|unknown user-defined format/i.test(ps.stderr)) {
      throw new OperationError(
        "unsupported",
        "This host's ps cannot report CPU and memory per process (install procps)",
      );
    }
    if (ps.exitCode !== 0) badOutput("ps", "exit code 0");
    const all = parsePs(ps.stdout);
    const key = args.sort === "memory" ? "rss_bytes" : "cpu_percent";
    const sorted = [...all].sort((a, b) => b[key] - a[key] || a.pid - b.pid);
    return { sort: args.sort, total_processes: all.length, processes: sorted.slice(0, args.limit) };
  },
  render: (out) =>
    [
      `${out.processes.length} of ${out.total_processes} processes by ${out.sort}:`,
      ...out.processes.slice(0, 5).map((p) =>
        `${p.pid} ${p.name} cpu ${p.cpu_percent}% mem ${p.memory_percent}% (${p.user})`
      ),
    ].join("\n"),
});
