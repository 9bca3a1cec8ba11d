/**
 * Proxmox VE backups: list them per storage with age and size, start a
 * vzdump of guests to a named storage, and answer the coverage question
 * (which guests have no backup newer than N days).
 *
 * Reads the clock (ages), in `parse` like `http_health`.
 *
 * @module
 */
import { z } from "zod";
import type { ProxmoxResult, PveItem } from "../exec/plan.ts";
import {
  defineGuestAction,
  definePveOperation,
  guestFilter,
  guestRefShape,
  itemsOf,
  nodeSchema,
  num,
  pveResult,
  storageSchema,
  str,
  tagsSchema,
  vmidSchema,
} from "./_pve_common.ts";

const DAY_MS = 86_400_000;

const backupSchema = z.object({
  volid: z.string(),
  storage: z.string(),
  node: z.string(),
  vmid: z.int().nullable(),
  format: z.string().nullable(),
  size: z.number().nullable().describe("bytes"),
  created: z.string().nullable().describe("ISO 8601"),
  age_days: z.number().nullable(),
  protected: z.boolean(),
  verification: z.string().nullable().describe('Proxmox Backup Server verify state, e.g. "ok"'),
  notes: z.string().nullable(),
});

type Backup = z.infer<typeof backupSchema>;

const storageErrorSchema = z.object({ storage: z.string(), node: z.string(), error: z.string() });

function backupsOf(items: readonly PveItem[], now: number): Backup[] {
  return items.filter((item) => item.error === null).flatMap((item) =>
    (Array.isArray(item.data) ? item.data as Record<string, unknown>[] : []).map((b) => {
      const ctime = num(b.ctime);
      const verification = b.verification as { state?: unknown } | undefined;
      return {
        volid: String(b.volid),
        storage: item.storage ?? "",
        node: item.node ?? "",
        vmid: num(b.vmid),
        format: str(b.format),
        size: num(b.size),
        created: ctime === null ? null : new Date(ctime * 1000).toISOString(),
        age_days: ctime === null ? null : Math.round((now - ctime * 1000) / DAY_MS * 10) / 10,
        protected: b.protected === 1,
        verification: str(verification?.state),
        notes: str(b.notes),
      };
    })
  ).sort((a, b) => (b.created ?? "").localeCompare(a.created ?? ""));
}

function storageErrors(items: readonly PveItem[]): z.infer<typeof storageErrorSchema>[] {
  return items.filter((item) => item.error !== null).map((item) => ({
    storage: item.storage ?? "",
    node: item.node ?? "",
    error: item.error!,
  }));
}

function gib(bytes: number | null): string {
  return bytes === null ? "?" : `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** Backups on every storage that holds them (or one storage), newest first. */
export const PVE_BACKUP_LIST = definePveOperation({
  name: "pve_backup_list",
  title: "Proxmox backups",
  description: "List backups (vzdump archives and Proxmox Backup Server snapshots) per storage " +
    "with age, size and verification state; optionally one storage or one guest.",
  input: z.strictObject({
    storage: storageSchema.optional(),
    vmid: vmidSchema.optional(),
  }),
  output: z.object({
    backups: z.array(backupSchema),
    storage_errors: z.array(storageErrorSchema),
  }),
  paramReach: {
    storage: { absent: "every storage holding backups" },
    vmid: { absent: "backups of every guest" },
  },
  capability: "backup:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    ...(args.storage ? { storage: args.storage } : {}),
    requests: [{
      method: "GET",
      path: "/nodes/{node}/storage/{storage}/content",
      query: {
        content: "backup",
        ...(args.vmid !== undefined ? { vmid: String(args.vmid) } : {}),
      },
      each: "backup_storage",
    }],
  }),
  parse(result) {
    const items = itemsOf(pveResult(result), 0, false);
    return { backups: backupsOf(items, Date.now()), storage_errors: storageErrors(items) };
  },
  render(output) {
    const lines = output.backups.map((b) =>
      `${b.volid} (${b.vmid ?? "?"}) ${gib(b.size)}, ${b.age_days ?? "?"} days old${
        b.verification ? `, verify ${b.verification}` : ""
      }`
    );
    for (const e of output.storage_errors) lines.push(`${e.storage} on ${e.node}: ${e.error}`);
    return lines.length > 0 ? lines.join("\n") : "No backups";
  },
});

/** Starts a vzdump backup of guests to a named storage. */
export const PVE_BACKUP_CREATE = defineGuestAction({
  name: "pve_backup_create",
  title: "Proxmox backup",
  description: "Back up a guest (`vmid`, or every guest carrying one of `tags`) to a named " +
    "storage with vzdump; mode snapshot (no downtime), suspend (brief pause) or stop (guest " +
    "stopped meanwhile); waits for each task unless wait is false.",
  capability: "backup:control",
  // `stop` mode stops the guest for the backup's duration.
  destructive: true,
  params: {
    storage: storageSchema,
    mode: z.enum(["snapshot", "suspend", "stop"]).default("snapshot"),
    compress: z.enum(["zstd", "lzo", "gzip", "0"]).default("zstd"),
  },
  request: (args) => ({
    method: "POST",
    path: "/nodes/{node}/vzdump",
    params: { vmid: "{vmid}", storage: args.storage, mode: args.mode, compress: args.compress },
  }),
});

const coverageSchema = z.object({
  ...guestRefShape,
  covered: z.boolean(),
  newest_backup: z.string().nullable().describe("volid of the newest backup"),
  newest_created: z.string().nullable(),
  age_days: z.number().nullable(),
  verification: z.string().nullable(),
});

function coverage(result: ProxmoxResult, maxAgeDays: number, now: number) {
  const items = itemsOf(result, 0, false);
  const backups = backupsOf(items, now);
  const guests = result.guests.map((g) => {
    const newest = backups.find((b) => b.vmid === g.vmid);
    const covered = newest?.age_days !== undefined && newest.age_days !== null &&
      newest.age_days <= maxAgeDays;
    return {
      vmid: g.vmid,
      name: g.name,
      node: g.node,
      type: g.type,
      covered,
      newest_backup: newest?.volid ?? null,
      newest_created: newest?.created ?? null,
      age_days: newest?.age_days ?? null,
      verification: newest?.verification ?? null,
    };
  });
  return {
    max_age_days: maxAgeDays,
    uncovered: guests.filter((g) => !g.covered).map((g) => g.vmid),
    guests,
    storage_errors: storageErrors(items),
  };
}

/** Which guests have no backup newer than N days (the coverage question). */
export const PVE_BACKUP_VERIFY_STATUS = definePveOperation({
  name: "pve_backup_verify_status",
  title: "Proxmox backup coverage",
  description: "Which guests have no backup newer than max_age_days on any storage (backup " +
    "coverage), with each guest's newest backup, its age and its verification state.",
  input: z.strictObject({
    max_age_days: z.number().min(0.1).max(3650).default(7),
    tags: tagsSchema.optional(),
    node: nodeSchema.optional(),
  }),
  output: z.object({
    max_age_days: z.number(),
    uncovered: z.array(z.int()).describe("VMIDs without a recent enough backup"),
    guests: z.array(coverageSchema),
    storage_errors: z.array(storageErrorSchema),
  }),
  paramReach: {
    tags: { absent: "every guest" },
    node: { absent: "every node" },
  },
  capability: "backup:read",
  mutates: false,
  destructive: false,
  send: (args) => ({
    guests: guestFilter(args),
    requests: [{
      method: "GET",
      path: "/nodes/{node}/storage/{storage}/content",
      query: { content: "backup" },
      each: "backup_storage",
    }],
  }),
  parse(result, args) {
    return coverage(pveResult(result), args.max_age_days, Date.now());
  },
  render(output) {
    const head = output.uncovered.length === 0
      ? `Every guest has a backup newer than ${output.max_age_days} days`
      : `${output.uncovered.length} guest(s) without a backup newer than ${output.max_age_days} days: ${
        output.uncovered.join(", ")
      }`;
    const errors = output.storage_errors.map((e) => `${e.storage} on ${e.node}: ${e.error}`);
    return [head, ...errors].join("\n");
  },
});
