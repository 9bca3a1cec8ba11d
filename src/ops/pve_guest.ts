/**
 * Proxmox VE guests (VMs and containers): list, status, power control and
 * configuration (secrets redacted).
 *
 * @module
 */
import { z } from "zod";
import {
  defineGuestAction,
  definePveOperation,
  guestFilter,
  guestRefShape,
  guestSelection,
  itemsOf,
  nodeSchema,
  nullableNumbers,
  numbers,
  oneSelection,
  pveResult,
  SELECTION_REACH,
  str,
  tagsSchema,
  vmidSchema,
} from "./_pve_common.ts";

/** Resource figures both the list and the status report, as the API names them. */
const USAGE = ["cpu", "mem", "maxmem", "disk", "maxdisk", "uptime"] as const;

// cpu: fraction of maxcpu (list) or cpus (status); mem, disk: bytes; uptime: seconds.
const guestSchema = z.object({
  ...guestRefShape,
  status: z.string(),
  tags: z.array(z.string()),
  template: z.boolean(),
  ...nullableNumbers([...USAGE, "maxcpu"]),
});

/** Lists VMs and containers across the cluster (the target's nodes only). */
export const PVE_GUEST_LIST = definePveOperation({
  name: "pve_guest_list",
  title: "Proxmox guests",
  description: "List the VMs and containers of a Proxmox VE cluster with status, node, tags and " +
    "resources; optionally only those carrying a tag, on a node, or of one type.",
  input: z.strictObject({
    tags: tagsSchema.optional(),
    node: nodeSchema.optional(),
    type: z.enum(["qemu", "lxc"]).optional(),
  }),
  output: z.object({ guests: z.array(guestSchema) }),
  paramReach: {
    tags: { absent: "guests with any tags or none" },
    node: { absent: "every node" },
    type: { absent: "VMs and containers" },
  },
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: { ...guestFilter(args), ...(args.type ? { type: args.type } : {}) },
    requests: [{ method: "GET", path: "/cluster/resources", query: { type: "vm" } }],
  }),
  parse(result) {
    const r = pveResult(result);
    const rows = itemsOf(r, 0)[0]?.data;
    const byId = new Map(
      (Array.isArray(rows) ? rows as Record<string, unknown>[] : []).map((row) => [row.vmid, row]),
    );
    return {
      guests: r.guests.map((g) => {
        const row = byId.get(g.vmid) ?? {};
        return {
          ...g,
          tags: [...g.tags],
          template: row.template === 1,
          ...numbers(row, [...USAGE, "maxcpu"]),
        };
      }),
    };
  },
  render(output) {
    if (output.guests.length === 0) return "No guests";
    return output.guests.map((g) =>
      `${g.vmid} ${g.name} ${g.type} on ${g.node}: ${g.status}${
        g.tags.length ? ` [${g.tags.join(", ")}]` : ""
      }`
    ).join("\n");
  },
});

const statusSchema = z.object({
  ...guestRefShape,
  status: z.string(),
  qmpstatus: z.string().nullable(),
  lock: z.string().nullable(),
  ha: z.string().nullable().describe("HA state, when managed"),
  ...nullableNumbers([...USAGE, "cpus"]),
});

/** The current status of one guest or of every guest carrying a tag. */
export const PVE_GUEST_STATUS = definePveOperation({
  name: "pve_guest_status",
  title: "Proxmox guest status",
  description: "Current status of a guest (or of every guest carrying one of tags): run state, " +
    "lock, HA state, CPU, memory, disk and uptime.",
  input: z.strictObject(guestSelection).superRefine(oneSelection),
  output: z.object({ guests: z.array(statusSchema) }),
  paramReach: SELECTION_REACH,
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: guestFilter(args),
    requests: [{
      method: "GET",
      path: "/nodes/{node}/{type}/{vmid}/status/current",
      each: "guest",
    }],
  }),
  parse(result) {
    return {
      guests: itemsOf(pveResult(result), 0).map((item) => {
        const g = item.guest!;
        const d = (item.data ?? {}) as Record<string, unknown>;
        const ha = d.ha as { managed?: number; state?: string } | undefined;
        return {
          vmid: g.vmid,
          name: g.name,
          node: g.node,
          type: g.type,
          status: str(d.status) ?? g.status,
          qmpstatus: str(d.qmpstatus),
          lock: str(d.lock),
          ha: ha?.managed ? str(ha.state) : null,
          ...numbers(d, [...USAGE, "cpus"]),
        };
      }),
    };
  },
  render(output) {
    return output.guests.map((g) =>
      `${g.vmid} ${g.name} (${g.type} on ${g.node}): ${g.status}${
        g.lock ? ` locked ${g.lock}` : ""
      }`
    ).join("\n");
  },
});

/** Power actions, as the API names them. */
export const GUEST_ACTIONS = ["start", "shutdown", "stop", "reboot", "suspend", "resume"] as const;

/** Starts, shuts down, stops, reboots, suspends or resumes guests and waits for each task. */
export const PVE_GUEST_CONTROL = defineGuestAction({
  name: "pve_guest_control",
  title: "Proxmox guest power control",
  description:
    "Start, shut down (clean), stop (hard), reboot, suspend or resume a guest (`vmid`), or every " +
    "guest carrying one of `tags`; waits for each task unless wait is false. Results per guest.",
  capability: "guest:control",
  destructive: true,
  params: { action: z.enum(GUEST_ACTIONS) },
  request: (args) => ({
    method: "POST",
    path: `/nodes/{node}/{type}/{vmid}/status/${args.action}`,
  }),
});

/** Config keys whose values are secrets (cloud-init password and the like). */
const SECRET_KEY = /pass|secret|token|^cipassword$/i;

/** A guest's configuration with secret values replaced. */
export const PVE_GUEST_CONFIG = definePveOperation({
  name: "pve_guest_config",
  title: "Proxmox guest configuration",
  description: "Read a guest's configuration (disks, network, CPU, memory, options); values of " +
    "password-like keys are replaced with [REDACTED].",
  input: z.strictObject({ vmid: vmidSchema, node: guestSelection.node }),
  output: z.object({
    vmid: z.int(),
    node: z.string(),
    type: z.enum(["qemu", "lxc"]),
    config: z.record(z.string(), z.union([z.string(), z.number()])),
    redacted: z.array(z.string()).describe("Keys whose values were withheld"),
  }),
  paramReach: { node: SELECTION_REACH.node },
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: guestFilter(args),
    requests: [{ method: "GET", path: "/nodes/{node}/{type}/{vmid}/config", each: "guest" }],
  }),
  parse(result) {
    const item = itemsOf(pveResult(result), 0)[0];
    const config: Record<string, string | number> = {};
    const redacted: string[] = [];
    for (const [key, value] of Object.entries((item.data ?? {}) as Record<string, unknown>)) {
      if (typeof value !== "string" && typeof value !== "number") continue;
      if (SECRET_KEY.test(key)) {
        redacted.push(key);
        config[key] = "[REDACTED]";
      } else config[key] = value;
    }
    return {
      vmid: item.guest!.vmid,
      node: item.guest!.node,
      type: item.guest!.type,
      config,
      redacted,
    };
  },
  render(output) {
    return [
      `${output.vmid} (${output.type} on ${output.node})`,
      ...Object.entries(output.config).sort().map(([k, v]) => `${k}: ${v}`),
    ].join("\n");
  },
});
