/**
 * `pve_lxc_network_audit`: every container's network configuration (bridges,
 * VLANs, firewall flags, addresses), privilege and nesting, with findings:
 * firewall off, privileged containers (worse with nesting), address
 * conflicts.
 *
 * @module
 */
import { z } from "zod";
import type { PveItem } from "../exec/plan.ts";
import {
  definePveOperation,
  guestFilter,
  itemsOf,
  nodeSchema,
  pveResult,
  tagsSchema,
} from "./_pve_common.ts";

const interfaceSchema = z.object({
  key: z.string().describe('"net0", "net1", …'),
  name: z.string().nullable().describe("Interface name inside the container"),
  bridge: z.string().nullable(),
  vlan: z.int().nullable(),
  firewall: z.boolean(),
  ip: z.string().nullable(),
  ip6: z.string().nullable(),
  gw: z.string().nullable(),
  hwaddr: z.string().nullable(),
});

const containerSchema = z.object({
  vmid: z.int(),
  name: z.string(),
  node: z.string(),
  unprivileged: z.boolean(),
  nesting: z.boolean(),
  features: z.string().nullable(),
  guest_firewall: z.boolean().nullable().describe("The container's firewall (options.enable)"),
  interfaces: z.array(interfaceSchema),
});

const findingSchema = z.object({
  severity: z.enum(["high", "medium", "low"]),
  code: z.enum([
    "privileged_nesting",
    "privileged",
    "firewall_off",
    "nic_firewall_off",
    "ip_conflict",
    "no_network",
  ]),
  vmids: z.array(z.int()),
  message: z.string(),
});

type Finding = z.infer<typeof findingSchema>;

/** `key=value,key=value` as Proxmox VE writes property strings. */
function properties(text: unknown): Record<string, string> {
  if (typeof text !== "string") return {};
  return Object.fromEntries(
    text.split(",").map((part) => {
      const at = part.indexOf("=");
      return at < 0 ? [part, ""] : [part.slice(0, at), part.slice(at + 1)];
    }),
  );
}

function container(config: PveItem, options: PveItem | undefined) {
  const d = (config.data ?? {}) as Record<string, unknown>;
  const g = config.guest!;
  const features = typeof d.features === "string" ? d.features : null;
  const interfaces = Object.keys(d).filter((k) => /^net\d+$/.test(k)).sort().map((key) => {
    const p = properties(d[key]);
    return {
      key,
      name: p.name ?? null,
      bridge: p.bridge ?? null,
      vlan: p.tag !== undefined && /^\d+$/.test(p.tag) ? Number(p.tag) : null,
      firewall: p.firewall === "1",
      ip: p.ip ?? null,
      ip6: p.ip6 ?? null,
      gw: p.gw ?? null,
      hwaddr: p.hwaddr ?? null,
    };
  });
  const opts = options?.error === null ? options.data as { enable?: unknown } | null : undefined;
  return {
    vmid: g.vmid,
    name: g.name,
    node: g.node,
    unprivileged: d.unprivileged === 1 || d.unprivileged === "1",
    nesting: properties(features).nesting === "1",
    features,
    guest_firewall: opts === undefined ? null : opts?.enable === 1,
    interfaces,
  };
}

type Container = ReturnType<typeof container>;

function findings(containers: readonly Container[]): Finding[] {
  const out: Finding[] = [];
  for (const c of containers) {
    const who = `${c.vmid} (${c.name})`;
    if (!c.unprivileged && c.nesting) {
      out.push({
        severity: "high",
        code: "privileged_nesting",
        vmids: [c.vmid],
        message: `${who} is privileged with nesting on: root in it is close to root on the host`,
      });
    } else if (!c.unprivileged) {
      out.push({
        severity: "medium",
        code: "privileged",
        vmids: [c.vmid],
        message: `${who} is privileged (unprivileged: 0)`,
      });
    }
    if (c.guest_firewall === false) {
      out.push({
        severity: "medium",
        code: "firewall_off",
        vmids: [c.vmid],
        message: `${who} has its firewall disabled`,
      });
    }
    for (const nic of c.interfaces.filter((n) => !n.firewall)) {
      out.push({
        severity: "low",
        code: "nic_firewall_off",
        vmids: [c.vmid],
        message: `${who} ${nic.key} on ${nic.bridge ?? "?"} bypasses the firewall (firewall=0)`,
      });
    }
    if (c.interfaces.length === 0) {
      out.push({
        severity: "low",
        code: "no_network",
        vmids: [c.vmid],
        message: `${who} has no NIC`,
      });
    }
  }
  // Static addresses (without prefix) used by more than one interface.
  const users = new Map<string, number[]>();
  for (const c of containers) {
    for (const nic of c.interfaces) {
      for (const ip of [nic.ip, nic.ip6]) {
        if (!ip || ip === "dhcp" || ip === "auto" || ip === "manual") continue;
        const address = ip.split("/")[0].toLowerCase();
        users.set(address, [...users.get(address) ?? [], c.vmid]);
      }
    }
  }
  for (const [address, vmids] of users) {
    if (vmids.length < 2) continue;
    out.push({
      severity: "high",
      code: "ip_conflict",
      vmids: [...new Set(vmids)],
      message: `${address} is configured on ${vmids.length} interfaces (${vmids.join(", ")})`,
    });
  }
  const rank = { high: 0, medium: 1, low: 2 };
  return out.sort((a, b) => rank[a.severity] - rank[b.severity]);
}

/** Audits every container's network configuration and privilege. */
export const PVE_LXC_NETWORK_AUDIT = definePveOperation({
  name: "pve_lxc_network_audit",
  title: "Proxmox LXC network audit",
  description: "Audit every LXC container's network configuration (bridges, VLANs, firewall " +
    "flags, IP configuration), privilege and nesting, with findings: privileged with nesting, " +
    "privileged, firewall off, address conflicts.",
  input: z.strictObject({
    tags: tagsSchema.optional(),
    node: nodeSchema.optional(),
  }),
  output: z.object({
    containers: z.array(containerSchema),
    findings: z.array(findingSchema),
  }),
  paramReach: {
    tags: { absent: "every container" },
    node: { absent: "every node" },
  },
  capability: "guest:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: guestFilter(args, "lxc"),
    requests: [
      { method: "GET", path: "/nodes/{node}/lxc/{vmid}/config", each: "guest" },
      { method: "GET", path: "/nodes/{node}/lxc/{vmid}/firewall/options", each: "guest" },
    ],
  }),
  parse(result) {
    const r = pveResult(result);
    const options = itemsOf(r, 1, false);
    const containers = itemsOf(r, 0).map((item) =>
      container(item, options.find((o) => o.guest?.vmid === item.guest!.vmid))
    );
    return { containers, findings: findings(containers) };
  },
  render(output) {
    const lines = output.findings.map((f) => `[${f.severity}] ${f.message}`);
    return [
      `${output.containers.length} container(s), ${output.findings.length} finding(s)`,
      ...lines,
    ].join("\n");
  },
});
