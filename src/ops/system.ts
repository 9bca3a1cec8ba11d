/**
 * `system_status`: a host's name, kernel, uptime, load, memory and disks, read
 * with `uname`, `cat /proc/...` and `df`, which exist on Debian, Ubuntu, RHEL
 * and Alpine (busybox) alike.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, targetLimits } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";
import { OperationError } from "./operation.ts";

const diskSchema = z.object({
  filesystem: z.string(),
  size_bytes: z.number(),
  used_bytes: z.number(),
  avail_bytes: z.number(),
  use_percent: z.number(),
  mountpoint: z.string(),
});

/** The parsed status of one host. */
export const systemStatusOutput = z.object({
  hostname: z.string(),
  kernel: z.string(),
  uptime_seconds: z.number(),
  load: z.object({ m1: z.number(), m5: z.number(), m15: z.number() }),
  memory: z.object({
    total_bytes: z.number(),
    available_bytes: z.number(),
    used_bytes: z.number(),
    swap_total_bytes: z.number(),
    swap_used_bytes: z.number(),
  }),
  disks: z.array(diskSchema),
});

/** The output of `system_status`. */
export type SystemStatus = z.infer<typeof systemStatusOutput>;

// Pseudo filesystems that say nothing about disk space. `overlay` is kept only
// as a container's root: elsewhere it is one mount per Docker container.
const NOISE_FS = new Set(["tmpfs", "devtmpfs", "udev", "shm", "none", "efivarfs", "run"]);
const NOISE_MOUNT = /^\/(?:proc|sys|dev|run|snap)(?:\/|$)/;

function parseMeminfo(lines: readonly string[]): Map<string, number> {
  const fields = new Map<string, number>();
  for (const line of lines) {
    const m = line.match(/^(\w[\w()]*):\s+(\d+)(?: kB)?$/);
    if (m) fields.set(m[1], Number(m[2]) * 1024);
  }
  return fields;
}

function parseDf(stdout: string): SystemStatus["disks"] {
  const disks: SystemStatus["disks"] = [];
  for (const line of stdout.split("\n").slice(1)) {
    // `df -P` never wraps; the mount point is the rest of the line (it may hold spaces).
    const m = line.match(/^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(\/.*)$/);
    if (!m) continue;
    const [, filesystem, size, used, avail, pct, mountpoint] = m;
    if (NOISE_FS.has(filesystem) || NOISE_MOUNT.test(mountpoint) || size === "0") continue;
    if (filesystem === "overlay" && mountpoint !== "/") continue;
    if (filesystem.startsWith("/dev/loop")) continue;
    disks.push({
      filesystem,
      size_bytes: Number(size) * 1024,
      used_bytes: Number(used) * 1024,
      avail_bytes: Number(avail) * 1024,
      use_percent: Number(pct),
      mountpoint,
    });
  }
  return disks;
}

function parseStatus(uname: string, proc: string, df: string): SystemStatus {
  const [hostname, kernel] = uname.trim().split(/\s+/);
  if (!hostname || !kernel) badOutput("uname", "a host name and a kernel release");
  const lines = proc.split("\n");
  const uptime = Number(lines[0]?.split(" ")[0]);
  const load = (lines[1] ?? "").split(" ").slice(0, 3).map(Number);
  if (!Number.isFinite(uptime)) badOutput("cat", "/proc/uptime on the first line");
  if (load.length !== 3 || load.some((n) => !Number.isFinite(n))) {
    badOutput("cat", "/proc/loadavg on the second line");
  }
  const mem = parseMeminfo(lines.slice(2));
  const total = mem.get("MemTotal");
  if (total === undefined) badOutput("cat", "/proc/meminfo with MemTotal");
  // Kernels before 3.14 have no MemAvailable; free + buffers + cache is the old estimate.
  const available = mem.get("MemAvailable") ??
    (mem.get("MemFree") ?? 0) + (mem.get("Buffers") ?? 0) + (mem.get("Cached") ?? 0);
  const swapTotal = mem.get("SwapTotal") ?? 0;
  return {
    hostname,
    kernel,
    uptime_seconds: Math.floor(uptime),
    load: { m1: load[0], m5: load[1], m15: load[2] },
    memory: {
      total_bytes: total,
      available_bytes: available,
      used_bytes: Math.max(0, total - available),
      swap_total_bytes: swapTotal,
      swap_used_bytes: Math.max(0, swapTotal - (mem.get("SwapFree") ?? swapTotal)),
    },
    disks: parseDf(df),
  };
}

const GIB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** Hostname, kernel, uptime, load, memory and disk usage of a host. */
export const systemStatus = defineOperation({
  name: "system_status",
  title: "System status",
  description:
    "Returns a host's hostname, kernel release, uptime in seconds, 1/5/15-minute load averages, " +
    "memory and swap in bytes, and disk usage per real mounted filesystem (pseudo filesystems " +
    "such as tmpfs and per-container overlays are left out). Linux hosts only. Takes no arguments.",
  input: z.strictObject({}),
  output: systemStatusOutput,
  capability: "system:read",
  targetTypes: ["local", "ssh"],
  mutates: false,
  destructive: false,
  programs: ["uname", "cat", "df"],
  plan: (_args, target) => ({
    kind: "exec",
    commands: [
      ["uname", "-nr"],
      ["cat", "/proc/uptime", "/proc/loadavg", "/proc/meminfo"],
      ["df", "-kP"],
    ],
    mode: "all",
    sudo: false,
    ...targetLimits(target),
  }),
  parse: (result) => {
    const [uname, proc, df] = execCommands(result, 3);
    for (const cmd of [uname, proc, df]) throwCommonFailure(cmd, "coreutils");
    if (uname.exitCode !== 0) badOutput("uname", "exit code 0");
    if (proc.exitCode !== 0) {
      throw new OperationError("unsupported", "This host has no Linux /proc file system");
    }
    // df exits 1 when one mount is unreadable (e.g. a stale NFS mount) yet prints the others.
    return parseStatus(uname.stdout, proc.stdout, df.stdout);
  },
  render: (s) => {
    const disks = s.disks.map((d) => `${d.mountpoint} ${d.use_percent}%`).join(", ");
    return [
      `${s.hostname} (Linux ${s.kernel}), up ${(s.uptime_seconds / 86400).toFixed(1)} days`,
      `load ${s.load.m1} ${s.load.m5} ${s.load.m15}`,
      `memory ${gib(s.memory.used_bytes)} used of ${gib(s.memory.total_bytes)}, swap ${
        gib(s.memory.swap_used_bytes)
      } used of ${gib(s.memory.swap_total_bytes)}`,
      `disks: ${disks || "none"}`,
    ].join("\n");
  },
});

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
    'Returns the processes using the most CPU (sort: "cpu", percent of one core averaged over ' +
    'the process lifetime, as ps reports it) or memory (sort: "memory", resident set size), ' +
    "at most `limit` of them (1-100, default 10), with pid, parent pid, user, CPU %, memory %, " +
    "RSS bytes, elapsed seconds, process name and command line (cut at 512 characters). " +
    "Needs procps ps (busybox ps lacks the columns).",
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
