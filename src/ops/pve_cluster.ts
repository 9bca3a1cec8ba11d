/**
 * Proxmox VE cluster and node status, and task status (with waiting on a
 * task id).
 *
 * @module
 */
import { z } from "zod";
import { UPID_PATTERN } from "../exec/plan.ts";
import { definePveOperation, itemsOf, num, pveResult, str, taskSchema } from "./_pve_common.ts";
import { OperationError } from "./operation.ts";

const nodeStatusSchema = z.object({
  node: z.string(),
  cpu: z.number().nullable().describe("fraction of all cores"),
  cpus: z.number().nullable(),
  loadavg: z.array(z.string()),
  memory_used: z.number().nullable(),
  memory_total: z.number().nullable(),
  rootfs_used: z.number().nullable(),
  rootfs_total: z.number().nullable(),
  uptime: z.number().nullable(),
  pveversion: z.string().nullable(),
  kversion: z.string().nullable(),
});

const storageSchema = z.object({
  storage: z.string(),
  node: z.string(),
  type: z.string().nullable(),
  content: z.string().nullable(),
  shared: z.boolean(),
  status: z.string().nullable(),
  used: z.number().nullable(),
  total: z.number().nullable(),
});

/** Cluster quorum, versions, and each node's CPU, memory, storage and versions. */
export const PVE_CLUSTER_STATUS = definePveOperation({
  name: "pve_cluster_status",
  title: "Proxmox cluster status",
  description: "Proxmox VE cluster status: name and quorum, API version, and per node CPU, " +
    "load, memory, root disk, uptime and versions, plus every storage's use.",
  input: z.strictObject({}),
  output: z.object({
    cluster: z.object({ name: z.string().nullable(), quorate: z.boolean().nullable() }),
    version: z.string().nullable(),
    nodes: z.array(nodeStatusSchema),
    storages: z.array(storageSchema),
  }),
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send: () => ({
    requests: [
      { method: "GET", path: "/cluster/status" },
      { method: "GET", path: "/version" },
      { method: "GET", path: "/nodes/{node}/status", each: "node" },
      { method: "GET", path: "/cluster/resources", query: { type: "storage" } },
    ],
  }),
  parse(result) {
    const r = pveResult(result);
    const entries = (itemsOf(r, 0)[0].data ?? []) as Record<string, unknown>[];
    const cluster = entries.find((e) => e.type === "cluster");
    const version = itemsOf(r, 1)[0].data as Record<string, unknown> | null;
    const nodes = itemsOf(r, 2).map((item) => {
      const d = (item.data ?? {}) as Record<string, Record<string, unknown> & unknown>;
      const info = (d.cpuinfo ?? {}) as Record<string, unknown>;
      return {
        node: item.node!,
        cpu: num(d.cpu),
        cpus: num(info.cpus),
        loadavg: Array.isArray(d.loadavg) ? d.loadavg.map(String) : [],
        memory_used: num(d.memory?.used),
        memory_total: num(d.memory?.total),
        rootfs_used: num(d.rootfs?.used),
        rootfs_total: num(d.rootfs?.total),
        uptime: num(d.uptime),
        pveversion: str(d.pveversion),
        kversion: str(d.kversion),
      };
    });
    // Only storages on the nodes this target may see.
    const seen = new Set(nodes.map((n) => n.node));
    const rows = (itemsOf(r, 3)[0].data ?? []) as Record<string, unknown>[];
    const storages = rows.filter((s) => seen.has(String(s.node))).map((s) => ({
      storage: String(s.storage),
      node: String(s.node),
      type: str(s.plugintype),
      content: str(s.content),
      shared: s.shared === 1,
      status: str(s.status),
      used: num(s.disk),
      total: num(s.maxdisk),
    }));
    return {
      cluster: {
        name: str(cluster?.name),
        quorate: cluster ? cluster.quorate === 1 : null,
      },
      version: str(version?.version),
      nodes,
      storages,
    };
  },
  render(output) {
    const pct = (a: number | null, b: number | null) =>
      a === null || !b ? "?" : `${Math.round((a / b) * 100)}%`;
    return [
      `Cluster ${output.cluster.name ?? "(standalone)"}${
        output.cluster.quorate === null
          ? ""
          : output.cluster.quorate
          ? ", quorate"
          : ", NOT quorate"
      }; PVE ${output.version ?? "?"}`,
      ...output.nodes.map((n) =>
        `${n.node}: cpu ${pct(n.cpu, 1)}, memory ${pct(n.memory_used, n.memory_total)}, root ${
          pct(n.rootfs_used, n.rootfs_total)
        }, ${n.pveversion ?? ""}`
      ),
      ...output.storages.map((s) =>
        `${s.storage} on ${s.node}: ${pct(s.used, s.total)} used (${s.status ?? "?"})`
      ),
    ].join("\n");
  },
});

const upidSchema = z.string().max(400).regex(UPID_PATTERN, {
  error: 'Invalid upid: expected a Proxmox VE task id "UPID:node:…:"',
});

/** A task's status and log, optionally waiting for it to end. */
export const PVE_TASK_STATUS = definePveOperation({
  name: "pve_task_status",
  title: "Proxmox task status",
  description: "Status and log of a Proxmox VE task by its UPID (as returned by control, " +
    "snapshot and backup calls with wait: false); with wait, waits until the task ends or the " +
    "call's time runs short.",
  input: z.strictObject({
    upid: upidSchema,
    wait: z.boolean().default(false),
    log_lines: z.int().min(0).max(1000).default(50).describe("Log lines to return"),
  }),
  output: z.object({
    task: taskSchema,
    node: z.string(),
    type: z.string().nullable(),
    user: z.string().nullable(),
    started: z.string().nullable(),
    log: z.array(z.string()),
  }),
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send(args) {
    const base = `/nodes/${UPID_PATTERN.exec(args.upid)![1]}/tasks/${args.upid}`;
    return {
      requests: [
        { method: "GET", path: `${base}/status`, wait: args.wait },
        ...(args.log_lines > 0
          ? [{
            method: "GET" as const,
            path: `${base}/log`,
            query: { start: "0", limit: String(args.log_lines) },
          }]
          : []),
      ],
    };
  },
  parse(result, args) {
    const r = pveResult(result);
    const item = itemsOf(r, 0)[0];
    const d = (item.data ?? {}) as Record<string, unknown>;
    if (typeof d.status !== "string") {
      throw new OperationError("bad_output", "The task status has no state");
    }
    const task = item.task ??
      { upid: args.upid, status: d.status, exitstatus: str(d.exitstatus) };
    const start = num(d.starttime);
    const log = args.log_lines > 0
      ? ((itemsOf(r, 1)[0].data ?? []) as { t?: unknown }[]).map((line) => String(line.t ?? ""))
      : [];
    return {
      task,
      node: UPID_PATTERN.exec(args.upid)![1],
      type: str(d.type),
      user: str(d.user),
      started: start === null ? null : new Date(start * 1000).toISOString(),
      log,
    };
  },
  render(output) {
    return [
      `${output.task.upid}: ${output.task.status}${
        output.task.exitstatus ? ` (${output.task.exitstatus})` : ""
      }`,
      ...output.log,
    ].join("\n");
  },
});
