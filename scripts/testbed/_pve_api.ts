/**
 * The Proxmox VE API contract the test server implements: each endpoint the
 * gateway uses, with the parameters the published API schema
 * (pve-docs api-viewer, `apidata.js`) declares for it, the privilege its
 * `permissions` entry checks, and a handler over the in-memory cluster.
 * Parameters outside the schema are refused as pveproxy refuses them
 * (`property is not defined in schema and the schema does not allow
 * additional properties`), so a wrong request cannot pass unnoticed.
 *
 * @module
 */
import type { PveCluster } from "./_pve_cluster.ts";

/** One parameter's format, as the schema types it. */
export type ParamType =
  | { readonly type: "string"; readonly pattern?: RegExp; readonly max?: number }
  | { readonly type: "integer"; readonly min?: number; readonly max?: number }
  | { readonly type: "boolean" }
  | { readonly type: "enum"; readonly values: readonly string[] };

/** A parameter; `required` ones must be given. */
export type Param = ParamType & { readonly required?: boolean };

/** What a handler gets. */
export interface Call {
  readonly path: Readonly<Record<string, string>>;
  readonly params: Readonly<Record<string, string | number | boolean>>;
  /** `USER@REALM!TOKENID` of the caller. */
  readonly user: string;
}

/** A handler's failure: status, message and per-parameter errors, as pveproxy answers. */
export class PveError extends Error {
  /**
   * @param status HTTP status.
   * @param message The message (pveproxy also puts it in the reason phrase).
   * @param errors Per-parameter errors.
   */
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** One endpoint. */
export interface Endpoint {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** Path under `/api2/json` with `{name}` path parameters. */
  readonly path: string;
  readonly params: Readonly<Record<string, Param>>;
  /** The ACL path and privilege checked (`["/vms/100", "VM.Audit"]`), or `null` for any user. */
  readonly permission: (call: Call) => readonly [string, string] | null;
  readonly handle: (cluster: PveCluster, call: Call) => unknown;
}

const NODE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/;
/** Formats of path parameters (`pve-node`, `pve-vmid`, `pve-configid`, `pve-storage-id`). */
export const PATH_FORMATS: Readonly<Record<string, Param>> = {
  node: { type: "string", pattern: NODE },
  vmid: { type: "integer", min: 100, max: 999_999_999 },
  snapname: { type: "string", pattern: /^[a-zA-Z][a-zA-Z0-9_-]{1,39}$/ },
  storage: { type: "string", pattern: /^[a-z][a-z0-9._-]*[a-z0-9]$/i },
  upid: { type: "string", max: 400 },
  type: { type: "enum", values: ["qemu", "lxc"] },
  action: { type: "enum", values: ["start", "shutdown", "stop", "reboot", "suspend", "resume"] },
};

const priv = (call: Call, privilege: string) => [`/vms/${call.path.vmid}`, privilege] as const;

/** Parameters each power action accepts, per guest type (qemu / lxc). */
const ACTION_PARAMS: Record<string, Record<"qemu" | "lxc", Record<string, Param>>> = {
  start: {
    qemu: { skiplock: { type: "boolean" }, timeout: { type: "integer", min: 0, max: 86400 } },
    lxc: { skiplock: { type: "boolean" }, debug: { type: "boolean" } },
  },
  shutdown: {
    qemu: {
      forceStop: { type: "boolean" },
      keepActive: { type: "boolean" },
      skiplock: { type: "boolean" },
      timeout: { type: "integer", min: 0 },
    },
    lxc: { forceStop: { type: "boolean" }, timeout: { type: "integer", min: 0 } },
  },
  stop: {
    qemu: { skiplock: { type: "boolean" }, keepActive: { type: "boolean" } },
    lxc: { skiplock: { type: "boolean" } },
  },
  reboot: { qemu: { timeout: { type: "integer", min: 0 } }, lxc: { timeout: { type: "integer" } } },
  suspend: { qemu: { skiplock: { type: "boolean" }, todisk: { type: "boolean" } }, lxc: {} },
  resume: { qemu: { skiplock: { type: "boolean" }, nocheck: { type: "boolean" } }, lxc: {} },
};

const VZDUMP_PARAMS: Record<string, Param> = {
  vmid: { type: "string", pattern: /^\d+(?:[,;\s]+\d+)*$/ },
  all: { type: "boolean" },
  storage: PATH_FORMATS.storage,
  mode: { type: "enum", values: ["snapshot", "suspend", "stop"] },
  compress: { type: "enum", values: ["0", "1", "gzip", "lzo", "zstd"] },
  remove: { type: "boolean" },
  "notes-template": { type: "string", max: 1024 },
  protected: { type: "boolean" },
  bwlimit: { type: "integer", min: 0 },
};

/**
 * Every endpoint the contract server answers. Parameter lists follow the
 * API schema for PVE 8; where an endpoint has more optional parameters than
 * the gateway could send, only a subset is listed, which is stricter.
 */
export const ENDPOINTS: readonly Endpoint[] = [
  {
    method: "GET",
    path: "/version",
    params: {},
    permission: () => null,
    handle: (c) => c.version(),
  },
  {
    method: "GET",
    path: "/cluster/status",
    params: {},
    permission: () => ["/", "Sys.Audit"],
    handle: (c) => c.clusterStatus(),
  },
  {
    method: "GET",
    path: "/cluster/resources",
    params: { type: { type: "enum", values: ["vm", "storage", "node", "sdn"] } },
    permission: () => null,
    handle: (c, call) => c.resources(call.params.type as string | undefined, call.user),
  },
  {
    method: "GET",
    path: "/nodes",
    params: {},
    permission: () => null,
    handle: (c) => c.nodes(),
  },
  {
    method: "GET",
    path: "/nodes/{node}/status",
    params: {},
    permission: (call) => [`/nodes/${call.path.node}`, "Sys.Audit"],
    handle: (c, call) => c.nodeStatus(call.path.node),
  },
  {
    method: "GET",
    path: "/nodes/{node}/{type}/{vmid}/status/current",
    params: {},
    permission: (call) => priv(call, "VM.Audit"),
    handle: (c, call) => c.guestStatus(call.path),
  },
  {
    method: "POST",
    path: "/nodes/{node}/{type}/{vmid}/status/{action}",
    params: {},
    permission: (call) => priv(call, "VM.PowerMgmt"),
    handle: (c, call) => c.powerAction(call),
  },
  {
    method: "GET",
    path: "/nodes/{node}/{type}/{vmid}/config",
    params: { current: { type: "boolean" }, snapshot: PATH_FORMATS.snapname },
    permission: (call) => priv(call, "VM.Audit"),
    handle: (c, call) => c.guestConfig(call.path),
  },
  {
    method: "GET",
    path: "/nodes/{node}/{type}/{vmid}/snapshot",
    params: {},
    permission: (call) => priv(call, "VM.Audit"),
    handle: (c, call) => c.snapshots(call.path),
  },
  {
    method: "POST",
    path: "/nodes/{node}/{type}/{vmid}/snapshot",
    params: {
      snapname: { ...PATH_FORMATS.snapname, required: true },
      description: { type: "string", max: 8192 },
      vmstate: { type: "boolean" },
    },
    permission: (call) => priv(call, "VM.Snapshot"),
    handle: (c, call) => c.snapshotCreate(call),
  },
  {
    method: "POST",
    path: "/nodes/{node}/{type}/{vmid}/snapshot/{snapname}/rollback",
    params: { start: { type: "boolean" } },
    permission: (call) => priv(call, "VM.Snapshot.Rollback"),
    handle: (c, call) => c.snapshotRollback(call),
  },
  {
    method: "DELETE",
    path: "/nodes/{node}/{type}/{vmid}/snapshot/{snapname}",
    params: { force: { type: "boolean" } },
    permission: (call) => priv(call, "VM.Snapshot"),
    handle: (c, call) => c.snapshotDelete(call),
  },
  {
    method: "GET",
    path: "/nodes/{node}/lxc/{vmid}/firewall/options",
    params: {},
    permission: (call) => priv(call, "VM.Audit"),
    handle: (c, call) => c.firewallOptions({ ...call.path, type: "lxc" }),
  },
  {
    method: "GET",
    path: "/nodes/{node}/storage/{storage}/content",
    params: {
      content: {
        type: "enum",
        values: ["backup", "images", "iso", "rootdir", "vztmpl", "snippets"],
      },
      vmid: PATH_FORMATS.vmid,
    },
    permission: (call) => [`/storage/${call.path.storage}`, "Datastore.Audit"],
    handle: (c, call) => c.storageContent(call),
  },
  {
    method: "POST",
    path: "/nodes/{node}/vzdump",
    params: VZDUMP_PARAMS,
    permission: (call) => [`/vms/${call.params.vmid}`, "VM.Backup"],
    handle: (c, call) => c.vzdump(call),
  },
  {
    method: "GET",
    path: "/nodes/{node}/tasks/{upid}/status",
    params: {},
    permission: () => null,
    handle: (c, call) => c.taskStatus(call),
  },
  {
    method: "GET",
    path: "/nodes/{node}/tasks/{upid}/log",
    params: {
      start: { type: "integer", min: 0 },
      limit: { type: "integer", min: 0 },
      download: { type: "boolean" },
    },
    permission: () => null,
    handle: (c, call) => c.taskLog(call),
  },
];

/**
 * The parameters a power action accepts for a guest type.
 *
 * @param action The action.
 * @param type `qemu` or `lxc`.
 * @returns Its parameters.
 */
export function actionParams(action: string, type: "qemu" | "lxc"): Record<string, Param> {
  return ACTION_PARAMS[action]?.[type] ?? {};
}

/**
 * Checks one value against its format, as pveproxy's schema validation does.
 *
 * @param param The format.
 * @param value The raw value.
 * @returns The typed value, or an error message.
 */
export function checkValue(
  param: Param,
  value: unknown,
): { ok: true; value: string | number | boolean } | { ok: false; error: string } {
  const text = typeof value === "number" || typeof value === "boolean" ? String(value) : value;
  if (typeof text !== "string") return { ok: false, error: "type check ('string') failed" };
  switch (param.type) {
    case "integer": {
      if (!/^-?\d+$/.test(text)) {
        return { ok: false, error: `type check ('integer') failed - got '${text}'` };
      }
      const n = Number(text);
      if (param.min !== undefined && n < param.min) {
        return { ok: false, error: `value must have a minimum value of ${param.min}` };
      }
      if (param.max !== undefined && n > param.max) {
        return { ok: false, error: `value must have a maximum value of ${param.max}` };
      }
      return { ok: true, value: n };
    }
    case "boolean":
      if (!/^(?:0|1|true|false|yes|no|on|off)$/i.test(text)) {
        return { ok: false, error: `type check ('boolean') failed - got '${text}'` };
      }
      return { ok: true, value: /^(?:1|true|yes|on)$/i.test(text) };
    case "enum":
      if (!param.values.includes(text)) {
        return {
          ok: false,
          error: `value '${text}' does not have a value in the enumeration '${
            param.values.join(", ")
          }'`,
        };
      }
      return { ok: true, value: text };
    case "string":
      if (param.max !== undefined && text.length > param.max) {
        return { ok: false, error: `value may only be ${param.max} characters long` };
      }
      if (param.pattern && !param.pattern.test(text)) {
        return { ok: false, error: "value does not match the regex pattern" };
      }
      return { ok: true, value: text };
  }
}
