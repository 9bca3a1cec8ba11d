/**
 * `container_stats`: one resource-usage snapshot of a container (the
 * engine samples twice, about a second apart, so CPU % can be computed).
 *
 * @module
 */
import { z } from "zod";
import { defineOperation } from "./operation.ts";
import {
  containerPath,
  containerRefSchema,
  dockerAnswer,
  dockerPlan,
  parseBody,
} from "./_docker_schemas.ts";

const cpuSchema = z.object({
  cpu_usage: z.object({
    total_usage: z.number().default(0),
    percpu_usage: z.array(z.number()).nullable().optional(),
  }),
  system_cpu_usage: z.number().optional(),
  online_cpus: z.number().optional(),
});

const statsSchema = z.object({
  cpu_stats: cpuSchema,
  precpu_stats: cpuSchema,
  memory_stats: z.object({
    usage: z.number().optional(),
    limit: z.number().optional(),
    stats: z.record(z.string(), z.number()).optional(),
  }),
  networks: z.record(z.string(), z.object({ rx_bytes: z.number(), tx_bytes: z.number() }))
    .optional(),
  blkio_stats: z.object({
    io_service_bytes_recursive: z.array(z.object({ op: z.string(), value: z.number() }))
      .nullable().optional(),
  }).optional(),
  pids_stats: z.object({ current: z.number().optional() }).optional(),
});

/** What `container_stats` returns. */
export const statsOutput = z.object({
  cpu_percent: z.number(),
  memory_usage_bytes: z.number(),
  memory_limit_bytes: z.number(),
  memory_percent: z.number(),
  net_rx_bytes: z.number(),
  net_tx_bytes: z.number(),
  block_read_bytes: z.number(),
  block_write_bytes: z.number(),
  pids: z.number().nullable(),
});

type Stats = z.infer<typeof statsSchema>;

/**
 * Computes the snapshot the way `docker stats` does: CPU % from the delta
 * between the two samples, memory without page cache.
 *
 * @param s The engine's stats object.
 * @returns Rounded figures.
 */
export function summariseStats(s: Stats): z.infer<typeof statsOutput> {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const systemDelta = (s.cpu_stats.system_cpu_usage ?? 0) - (s.precpu_stats.system_cpu_usage ?? 0);
  const cpus = s.cpu_stats.online_cpus ?? s.cpu_stats.cpu_usage.percpu_usage?.length ?? 1;
  const cpu = cpuDelta > 0 && systemDelta > 0 ? (cpuDelta / systemDelta) * cpus * 100 : 0;
  const m = s.memory_stats;
  // cgroup v1 reports page cache as total_inactive_file/cache, v2 as inactive_file.
  const cache = m.stats?.total_inactive_file ?? m.stats?.inactive_file ?? m.stats?.cache ?? 0;
  const usage = Math.max(0, (m.usage ?? 0) - cache);
  const limit = m.limit ?? 0;
  const nets = Object.values(s.networks ?? {});
  const io = s.blkio_stats?.io_service_bytes_recursive ?? [];
  const sumIo = (op: string) =>
    io.filter((e) => e.op.toLowerCase() === op).reduce((n, e) => n + e.value, 0);
  return {
    cpu_percent: Math.round(cpu * 100) / 100,
    memory_usage_bytes: usage,
    memory_limit_bytes: limit,
    memory_percent: limit > 0 ? Math.round((usage / limit) * 10_000) / 100 : 0,
    net_rx_bytes: nets.reduce((n, x) => n + x.rx_bytes, 0),
    net_tx_bytes: nets.reduce((n, x) => n + x.tx_bytes, 0),
    block_read_bytes: sumIo("read"),
    block_write_bytes: sumIo("write"),
    pids: s.pids_stats?.current ?? null,
  };
}

/** One resource-usage snapshot. */
export const containerStats = defineOperation({
  name: "container_stats",
  title: "Container resource usage",
  description:
    "One snapshot of a container's resource use: CPU % (100 = one core), memory without page cache, limit and %, network and block bytes, process count. Takes about 2 s; a stopped container reports zeros.",
  input: z.strictObject({ container: containerRefSchema }),
  output: statsOutput,
  capability: "container:read",
  targetTypes: ["docker"],
  mutates: false,
  destructive: false,
  programs: [],
  plan: (args, target) =>
    dockerPlan(target, {
      method: "GET",
      path: `${containerPath(args.container)}/stats`,
      query: { stream: "false" },
      response: "json",
    }),
  parse: (result) => {
    const answer = dockerAnswer(result, { ok: [200], doing: "read the container's stats" });
    return summariseStats(parseBody(statsSchema, answer.body, "stats"));
  },
  render: (s) =>
    `cpu ${s.cpu_percent}%, memory ${s.memory_usage_bytes} / ${s.memory_limit_bytes} bytes ` +
    `(${s.memory_percent}%), net rx ${s.net_rx_bytes} tx ${s.net_tx_bytes}, block read ` +
    `${s.block_read_bytes} write ${s.block_write_bytes}`,
});
