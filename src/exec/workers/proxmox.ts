/**
 * The proxmox executor worker. Runs under `PROXMOX_KIND`'s permissions: `net`
 * for the proxmox targets' host:port list and nothing else.
 *
 * Receives `configure` once (targets with the API token revealed), then `run`
 * and `cancel` messages; answers each `run` with one `result`. Requests go
 * through the HTTP worker's modules (`_http_*`), so the address guard, TLS
 * (CA or pinned fingerprint), credential injection, caps and scrubbing are
 * the same code as for http targets.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { ProxmoxPlan } from "../plan.ts";
import type { WorkerResponse } from "../protocol.ts";
import { ConnPool } from "./_conn_pool.ts";
import { serveWorkerMessages } from "./_worker_messages.ts";
import { compileConfig } from "./_http_config.ts";
import { HttpFailure, redact } from "./_http_result.ts";
import { type ProxmoxWorkerConfig, type PveTarget, runProxmoxPlan } from "./_pve_run.ts";

let targets: Map<string, PveTarget> | undefined;
const pool = new ConnPool<Deno.Conn>();

function post(message: WorkerResponse): void {
  self.postMessage(message);
}

function configure(config: unknown): Map<string, PveTarget> {
  const list = (config as ProxmoxWorkerConfig | null)?.targets;
  if (!Array.isArray(list)) {
    throw new Error("Invalid proxmox configuration: expected a targets list");
  }
  const compiled = compileConfig(config);
  return new Map(list.map((t) => {
    if (!Array.isArray(t.nodes)) throw new Error(`Invalid nodes for target "${t.id}"`);
    return [t.id, { ...compiled.get(t.id)!, nodes: [...t.nodes] }];
  }));
}

async function run(
  id: number,
  targetId: string,
  plan: ProxmoxPlan,
  signal: AbortSignal,
): Promise<void> {
  const target = targets?.get(targetId);
  if (!target) {
    const message = `Target ${
      JSON.stringify(targetId)
    } is not a proxmox target this executor knows`;
    return post({ type: "result", id, ok: false, error: { code: "internal", message } });
  }
  try {
    const result = await runProxmoxPlan(target, plan, {
      signal,
      pool,
      onProgress: (message) =>
        post({ type: "progress", id, message: redact(message, target.secrets, false) }),
    });
    post({ type: "result", id, ok: true, result });
  } catch (error) {
    const failure = error instanceof HttpFailure
      ? error
      : new HttpFailure("internal", "The proxmox executor failed unexpectedly");
    const message = redact(failure.message, target.secrets, false);
    post({ type: "result", id, ok: false, error: { code: failure.code, message } });
  }
}

serveWorkerMessages<ProxmoxPlan>({
  kind: "proxmox",
  configure(config) {
    pool.closeAll();
    targets = configure(config);
  },
  run,
});
