/**
 * Proxmox VE guest snapshots: list, create (e.g. every guest tagged `db`
 * before an upgrade), roll back (admin tier; one guest at a time) and delete.
 *
 * @module
 */
import { z } from "zod";
import {
  guestFilter,
  guestOutcomesOutput,
  guestSelection,
  itemsOf,
  num,
  oneSelection,
  outcomesOutput,
  pvePlan,
  pveResult,
  renderOutcomes,
  SELECTION_REACH,
  snapnameSchema,
  str,
} from "./_pve_common.ts";
import { defineOperation } from "./operation.ts";

const snapshotSchema = z.object({
  name: z.string(),
  description: z.string(),
  created: z.string().nullable().describe("ISO 8601"),
  parent: z.string().nullable(),
  vmstate: z.boolean(),
});

/** Snapshots of a guest, or of every guest carrying a tag. */
export const PVE_SNAPSHOT_LIST = defineOperation({
  name: "pve_snapshot_list",
  title: "Proxmox snapshots",
  description: "List the snapshots of a guest (or of every guest carrying one of tags) with " +
    "name, description, time and parent.",
  input: z.strictObject(guestSelection).superRefine(oneSelection),
  output: z.object({
    guests: z.array(z.object({
      vmid: z.int(),
      name: z.string(),
      node: z.string(),
      snapshots: z.array(snapshotSchema),
    })),
  }),
  paramReach: SELECTION_REACH,
  capability: "guest:read",
  targetTypes: ["proxmox"],
  mutates: false,
  destructive: false,
  programs: [],
  plan(args, target) {
    return pvePlan(target, "pve_snapshot_list", {
      guests: guestFilter(args),
      requests: [{ method: "GET", path: "/nodes/{node}/{type}/{vmid}/snapshot", each: "guest" }],
    });
  },
  parse(result) {
    return {
      guests: itemsOf(pveResult(result), 0).map((item) => ({
        vmid: item.guest!.vmid,
        name: item.guest!.name,
        node: item.guest!.node,
        snapshots: (Array.isArray(item.data) ? item.data as Record<string, unknown>[] : [])
          // "current" is the running state, not a snapshot.
          .filter((s) => s.name !== "current")
          .map((s) => {
            const time = num(s.snaptime);
            return {
              name: String(s.name),
              description: str(s.description) ?? "",
              created: time === null ? null : new Date(time * 1000).toISOString(),
              parent: str(s.parent),
              vmstate: s.vmstate === 1,
            };
          }),
      })),
    };
  },
  render(output) {
    return output.guests.map((g) =>
      `${g.vmid} ${g.name}: ${
        g.snapshots.length === 0
          ? "no snapshots"
          : g.snapshots.map((s) => `${s.name} (${s.created ?? "?"})`).join(", ")
      }`
    ).join("\n");
  },
});

/** Takes a snapshot of a guest, or of every guest carrying a tag. */
export const PVE_SNAPSHOT_CREATE = defineOperation({
  name: "pve_snapshot_create",
  title: "Proxmox snapshot",
  description: "Take a snapshot of a guest, or of every guest carrying one of tags (e.g. before " +
    "an upgrade); waits for each task unless wait is false. Results per guest.",
  input: z.strictObject({
    ...guestSelection,
    snapname: snapnameSchema,
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    description: z.string().max(500).regex(/^[^\0-\x1f\x7f]*$/, {
      error: "Invalid description: expected one line of printable text",
    }).optional(),
    wait: z.boolean().default(true),
  }).superRefine(oneSelection),
  output: guestOutcomesOutput,
  paramReach: {
    ...SELECTION_REACH,
    description: { absent: "no description", absentIsNarrowest: true },
  },
  capability: "guest:control",
  targetTypes: ["proxmox"],
  mutates: true,
  destructive: false,
  programs: [],
  plan(args, target) {
    return pvePlan(target, "pve_snapshot_create", {
      guests: guestFilter(args),
      requests: [{
        method: "POST",
        path: "/nodes/{node}/{type}/{vmid}/snapshot",
        params: {
          snapname: args.snapname,
          ...(args.description ? { description: args.description } : {}),
        },
        each: "guest",
        wait: args.wait,
      }],
    });
  },
  parse: outcomesOutput,
  render: renderOutcomes,
});

/** Rolls one guest back to a snapshot: the guest's current state is lost. */
export const PVE_SNAPSHOT_ROLLBACK = defineOperation({
  name: "pve_snapshot_rollback",
  title: "Proxmox snapshot rollback",
  description: "Roll one guest back to a snapshot. Everything since the snapshot is lost; the " +
    "guest stops if it was running. Waits for the task unless wait is false.",
  input: z.strictObject({
    vmid: guestSelection.vmid.unwrap(),
    node: guestSelection.node,
    snapname: snapnameSchema,
    wait: z.boolean().default(true),
  }),
  output: guestOutcomesOutput,
  paramReach: { node: SELECTION_REACH.node },
  capability: "guest:admin",
  targetTypes: ["proxmox"],
  mutates: true,
  destructive: true,
  programs: [],
  plan(args, target) {
    return pvePlan(target, "pve_snapshot_rollback", {
      guests: guestFilter(args),
      requests: [{
        method: "POST",
        path: `/nodes/{node}/{type}/{vmid}/snapshot/${args.snapname}/rollback`,
        each: "guest",
        wait: args.wait,
      }],
    });
  },
  parse: outcomesOutput,
  render: renderOutcomes,
});

/** Deletes a snapshot of a guest, or of every guest carrying a tag. */
export const PVE_SNAPSHOT_DELETE = defineOperation({
  name: "pve_snapshot_delete",
  title: "Proxmox snapshot delete",
  description: "Delete a snapshot of a guest, or of every guest carrying one of tags; waits for " +
    "each task unless wait is false. Results per guest.",
  input: z.strictObject({
    ...guestSelection,
    snapname: snapnameSchema,
    wait: z.boolean().default(true),
  }).superRefine(oneSelection),
  output: guestOutcomesOutput,
  paramReach: SELECTION_REACH,
  capability: "guest:admin",
  targetTypes: ["proxmox"],
  mutates: true,
  destructive: true,
  programs: [],
  plan(args, target) {
    return pvePlan(target, "pve_snapshot_delete", {
      guests: guestFilter(args),
      requests: [{
        method: "DELETE",
        path: `/nodes/{node}/{type}/{vmid}/snapshot/${args.snapname}`,
        each: "guest",
        wait: args.wait,
      }],
    });
  },
  parse: outcomesOutput,
  render: renderOutcomes,
});
