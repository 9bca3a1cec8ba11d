/**
 * `system_status`: a host's name, kernel, uptime, load, memory and disks, read
 * with `uname`, `cat /proc/...` and `df`, which exist on Debian, Ubuntu, RHEL
 * and Alpine (busybox) alike.
 *
 * @module
 */
import { z } from "zod";
import { defineOperation, OperationError, targetLimits } from "./operation.ts";
import { badOutput, execCommands, throwCommonFailure } from "./_host_result.ts";

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
const duration = (seconds: number) =>
  seconds >= 86400
    ? `${(seconds / 86400).toFixed(1)} days`
    : `${Math.floor(seconds / 3600)}h ${Math.floor((seconds % 3600) / 60)}m`;
const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;

/** Hostname, kernel, uptime, load, memory and disk usage of a host. */
export const systemStatus = defineOperation({
  name: "system_status",
  title: "System status",
  description:
    "Hostname, kernel, uptime seconds, 1/5/15-minute load, memory and swap bytes, and disk use per real filesystem (no tmpfs or overlays). Linux only.",
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
      `${s.hostname} (Linux ${s.kernel}), up ${duration(s.uptime_seconds)}`,
      `load ${s.load.m1} ${s.load.m5} ${s.load.m15}`,
      `memory ${gib(s.memory.used_bytes)} used of ${gib(s.memory.total_bytes)}, ${
        s.memory.swap_total_bytes === 0
          ? "no swap"
          : `swap ${gib(s.memory.swap_used_bytes)} used of ${gib(s.memory.swap_total_bytes)}`
      }`,
      `disks: ${disks || "none"}`,
    ].join("\n");
  },
});
