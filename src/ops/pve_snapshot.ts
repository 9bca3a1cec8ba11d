/**
 * Proxmox VE guest snapshots: list, create (e.g. every guest tagged `db`
 * before an upgrade), roll back (admin tier; one guest at a time) and delete.
 *
 * @module
 */
import { z } from "zod";
import {
  defineGuestAction,
  definePveOperation,
  guestFilter,
  guestSelection,
  itemsOf,
  num,
  oneSelection,
  pveResult,
  SELECTION_REACH,
  snapnameSchema,
  str,
} from "./_pve_common.ts";

const snapshotSchema = z.object({
  name: z.string(),
  description: z.string(),
  created: z.string().nullable().describe("ISO 8601"),
  parent: z.string().nullable(),
  vmstate: z.boolean(),
});

/** Snapshots of a guest, or of every guest carrying a tag. */
export const PVE_SNAPSHOT_LIST = definePveOperation({
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
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: guestFilter(args),
    requests: [{ method: "GET", path: "/nodes/{node}/{type}/{vmid}/snapshot", each: "guest" }],
  }),
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
export const PVE_SNAPSHOT_CREATE = defineGuestAction({
  name: "pve_snapshot_create",
  title: "Proxmox snapshot",
  description: "Take a snapshot of a guest (`vmid`), or of every guest carrying one of `tags` " +
    "(e.g. before an upgrade); waits for each task unless wait is false. Results per guest.",
  capability: "guest:control",
  destructive: false,
  params: {
    snapname: snapnameSchema,
    // deno-lint-ignore no-control-regex -- refusing control characters is the point
    description: z.string().max(500).regex(/^[^\0-\x1f\x7f]*$/, {
      error: "Invalid description: expected one line of printable text",
    }).optional(),
  },
  paramReach: { description: { absent: "no description", absentIsNarrowest: true } },
  request: (args) => ({
    method: "POST",
    path: "/nodes/{node}/{type}/{vmid}/snapshot",
    params: {
      snapname: args.snapname,
      ...(args.description ? { description: args.description } : {}),
    },
  }),
});

/** Rolls one guest back to a snapshot: the guest's current state is lost. */
export const PVE_SNAPSHOT_ROLLBACK = defineGuestAction({
  name: "pve_snapshot_rollback",
  title: "Proxmox snapshot rollback",
  description: "Roll one guest back to a snapshot. Everything since the snapshot is lost; the " +
    "guest stops if it was running. Waits for the task unless wait is false.",
  capability: "guest:admin",
  destructive: true,
  single: true,
  params: { snapname: snapnameSchema },
  request: (args) => ({
    method: "POST",
    path: `/nodes/{node}/{type}/{vmid}/snapshot/${args.snapname}/rollback`,
  }),
});

/** Deletes a snapshot of a guest, or of every guest carrying a tag. */
export const PVE_SNAPSHOT_DELETE = defineGuestAction({
  name: "pve_snapshot_delete",
  title: "Proxmox snapshot delete",
  description: "Delete a snapshot of a guest (`vmid`), or of every guest carrying one of " +
    "`tags`; waits for each task unless wait is false. Results per guest.",
  capability: "guest:admin",
  destructive: true,
  params: { snapname: snapnameSchema },
  request: (args) => ({
    method: "DELETE",
    path: `/nodes/{node}/{type}/{vmid}/snapshot/${args.snapname}`,
  }),
});
