/**
 * Dry run for proxmox plans: each API request as it would be sent, with the
 * placeholders the worker fills from the API's own listings.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import type { ProxmoxPlan, PveRequest } from "../exec/plan.ts";

const EACH: Record<NonNullable<PveRequest["each"]>, string> = {
  guest: "once per selected guest ({node}, {type}, {vmid} from GET /cluster/resources?type=vm)",
  node: "once per online node (from GET /nodes)",
  backup_storage:
    "once per storage holding backups ({node}, {storage} from GET /cluster/resources?type=storage)",
};

/**
 * Describes a proxmox plan for dry run. Shows the token id, never its secret.
 *
 * @param plan The plan.
 * @param target The target it would run on.
 * @returns A plain object for the client.
 */
export function describeProxmoxPlan(plan: ProxmoxPlan, target: Target): Record<string, unknown> {
  const proxmox = target.type === "proxmox" ? target.connection : undefined;
  return {
    kind: "proxmox",
    api: proxmox?.base_url ?? target.id,
    requests: plan.requests.map((r) => ({
      request: `${r.method} ${r.path}${r.query ? `?${new URLSearchParams(r.query)}` : ""}`,
      ...(r.params ? { params: r.params, params_in: "the query string" } : {}),
      ...(r.each ? { runs: EACH[r.each] } : {}),
      ...(r.wait ? { waits: "for the task (UPID) it starts, polling its status" } : {}),
    })),
    ...(plan.guests ? { guests: plan.guests } : {}),
    ...(plan.storage ? { storage: plan.storage } : {}),
    ...(proxmox && proxmox.nodes.length > 0 ? { nodes: proxmox.nodes } : {}),
    authorization: proxmox
      ? `PVEAPIToken=${proxmox.token_id}=<secret added by the executor>`
      : "added by the executor",
    timeout_ms: plan.timeoutMs,
    output_cap_bytes: plan.outputCapBytes,
  };
}
