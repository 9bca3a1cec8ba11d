/**
 * Runs one proxmox plan on one Proxmox VE API target: the guest, node and
 * storage listings a plan's `each` needs, one HTTP request per item through
 * the HTTP worker's {@linkcode runHttpPlan} (address guard, TLS or pin,
 * credential injection, caps), the target's node limit on every request, and
 * waiting on task ids (UPIDs) by polling their status until they stop or the
 * plan's time runs short.
 *
 * @module
 */
import type {
  HttpResult,
  ProxmoxPlan,
  ProxmoxResult,
  PveGuest,
  PveItem,
  PveRequest,
  PveTask,
} from "../plan.ts";
import { UPID_PATTERN } from "../plan.ts";
import type { ConnPool } from "./_conn_pool.ts";
import type { CompiledTarget, HttpTargetSettings } from "./_http_config.ts";
import { runHttpPlan } from "./_http_request.ts";
import { HttpFailure } from "./_http_result.ts";

/** One proxmox target's worker settings: the HTTP settings plus the node limit. */
export interface ProxmoxTargetSettings extends HttpTargetSettings {
  /** Nodes requests may name; empty: every node. */
  readonly nodes: readonly string[];
}

/** The `configure` message body for the proxmox worker. */
export interface ProxmoxWorkerConfig {
  readonly targets: readonly ProxmoxTargetSettings[];
}

/** A compiled proxmox target. */
export type PveTarget = CompiledTarget & { readonly nodes: readonly string[] };

/** Values the API lists are checked before they go into a path. */
const NODE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const STORAGE = /^[A-Za-z][A-Za-z0-9._-]{0,99}$/;
const SHORTEST_POLL_MS = 250;
const LONGEST_POLL_MS = 2000;
/** Time kept back from the plan's timeout so a wait ends with an answer, not a timeout. */
const WAIT_RESERVE_MS = 1500;

/** How {@linkcode runProxmoxPlan} runs. */
export interface PveRunOptions {
  /** Aborted when the client cancels. */
  readonly signal: AbortSignal;
  /** Idle connections to reuse. */
  readonly pool?: ConnPool<Deno.Conn>;
  /** Hears each step: a task still running, a guest done. */
  readonly onProgress?: (message: string) => void;
}

interface Context extends PveRunOptions {
  readonly target: PveTarget;
  readonly plan: ProxmoxPlan;
  readonly ends: number;
}

function nodeAllowed(target: PveTarget, node: string): boolean {
  return target.nodes.length === 0 || target.nodes.includes(node);
}

/** Sends one request; 401 and oversize answers end the plan, other errors become the item's. */
async function send(
  ctx: Context,
  request: Pick<PveRequest, "method" | "query"> & { path: string },
): Promise<{ status: number; data: unknown; error: string | null }> {
  const node = /^\/nodes\/([^/]+)/.exec(request.path)?.[1];
  if (node !== undefined && !nodeAllowed(ctx.target, node)) {
    throw new HttpFailure(
      "forbidden",
      `Node ${JSON.stringify(node)} is outside target "${ctx.target.id}"'s nodes (${
        ctx.target.nodes.join(", ")
      })`,
    );
  }
  const timeoutMs = ctx.ends - Date.now();
  if (timeoutMs <= 0) {
    throw new HttpFailure("timeout", `The call took longer than ${ctx.plan.timeoutMs} ms`);
  }
  const result: HttpResult = await runHttpPlan(
    ctx.target,
    {
      kind: "http",
      method: request.method,
      path: request.path,
      ...(request.query ? { query: request.query } : {}),
      timeoutMs,
      outputCapBytes: ctx.plan.outputCapBytes,
    },
    ctx.signal,
    ctx.pool,
  );
  if (result.status === 401) {
    throw new HttpFailure(
      "auth_failed",
      `Target "${ctx.target.id}" refused the API token (401): check token_id and token_secret`,
    );
  }
  if (result.truncated) {
    throw new HttpFailure(
      "bad_response",
      `The answer to ${request.method} ${request.path} was larger than the output cap`,
    );
  }
  const body = result.body as { data?: unknown; message?: unknown; errors?: unknown } | string;
  if (typeof body !== "object" || body === null) {
    if (result.status < 400) {
      throw new HttpFailure("bad_response", `Target "${ctx.target.id}" did not answer with JSON`);
    }
    return { status: result.status, data: null, error: `HTTP ${result.status}` };
  }
  if (result.status < 400) return { status: result.status, data: body.data ?? null, error: null };
  const message = typeof body.message === "string" ? body.message.trim() : `HTTP ${result.status}`;
  const errors = body.errors && typeof body.errors === "object"
    ? Object.entries(body.errors as Record<string, unknown>).map(([k, v]) => `${k}: ${String(v)}`)
    : [];
  return {
    status: result.status,
    data: null,
    error: errors.length > 0 ? `${message} (${errors.join("; ")})` : message,
  };
}

async function listGuests(ctx: Context): Promise<PveGuest[]> {
  const answer = await send(ctx, {
    method: "GET",
    path: "/cluster/resources",
    query: { type: "vm" },
  });
  if (answer.error !== null || !Array.isArray(answer.data)) {
    throw new HttpFailure(
      answer.status === 403 ? "forbidden" : "bad_response",
      `Cannot list the guests of target "${ctx.target.id}": ${answer.error ?? "no list"}`,
    );
  }
  const filter = ctx.plan.guests ?? {};
  const guests: PveGuest[] = [];
  for (const raw of answer.data as Record<string, unknown>[]) {
    const { vmid, node, type } = raw;
    if (typeof vmid !== "number" || typeof node !== "string" || !NODE.test(node)) continue;
    if (type !== "qemu" && type !== "lxc") continue;
    const tags = typeof raw.tags === "string" ? raw.tags.split(/[;, ]/).filter(Boolean) : [];
    const guest: PveGuest = {
      vmid,
      node,
      type,
      name: typeof raw.name === "string" ? raw.name : "",
      status: typeof raw.status === "string" ? raw.status : "unknown",
      tags,
    };
    if (!nodeAllowed(ctx.target, node)) continue;
    if (filter.vmids && !filter.vmids.includes(vmid)) continue;
    if (filter.tags && !filter.tags.some((tag) => tags.includes(tag))) continue;
    if (filter.node && filter.node !== node) continue;
    if (filter.type && filter.type !== type) continue;
    guests.push(guest);
  }
  return guests.sort((a, b) => a.vmid - b.vmid);
}

async function listNodes(ctx: Context): Promise<string[]> {
  const answer = await send(ctx, { method: "GET", path: "/nodes" });
  if (answer.error !== null || !Array.isArray(answer.data)) {
    throw new HttpFailure("bad_response", `Cannot list the nodes: ${answer.error ?? "no list"}`);
  }
  return (answer.data as Record<string, unknown>[])
    .filter((n) => typeof n.node === "string" && NODE.test(n.node) && n.status === "online")
    .map((n) => n.node as string)
    .filter((node) => nodeAllowed(ctx.target, node))
    .sort();
}

async function listBackupStorages(ctx: Context): Promise<{ node: string; storage: string }[]> {
  const answer = await send(ctx, {
    method: "GET",
    path: "/cluster/resources",
    query: { type: "storage" },
  });
  if (answer.error !== null || !Array.isArray(answer.data)) {
    throw new HttpFailure("bad_response", `Cannot list the storages: ${answer.error ?? "no list"}`);
  }
  const seen = new Set<string>();
  const out: { node: string; storage: string }[] = [];
  for (const s of answer.data as Record<string, unknown>[]) {
    const { node, storage, content } = s;
    if (typeof node !== "string" || !NODE.test(node) || !nodeAllowed(ctx.target, node)) continue;
    if (typeof storage !== "string" || !STORAGE.test(storage)) continue;
    if (typeof content !== "string" || !content.split(",").includes("backup")) continue;
    if (s.status !== undefined && s.status !== "available") continue;
    if (ctx.plan.storage !== undefined && ctx.plan.storage !== storage) continue;
    const key = s.shared === 1 ? storage : `${node}/${storage}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ node, storage });
  }
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** Polls a task until it stops or the plan's time runs short (then it is reported running). */
async function waitFor(ctx: Context, upid: string): Promise<PveTask> {
  const node = UPID_PATTERN.exec(upid)?.[1];
  if (node === undefined) {
    throw new HttpFailure("bad_response", "The API answered with a malformed task id");
  }
  for (let pause = SHORTEST_POLL_MS;; pause = Math.min(pause * 2, LONGEST_POLL_MS)) {
    const answer = await send(ctx, { method: "GET", path: `/nodes/${node}/tasks/${upid}/status` });
    const data = answer.data as { status?: unknown; exitstatus?: unknown } | null;
    if (answer.error !== null || data === null) {
      throw new HttpFailure("bad_response", `Cannot read task ${upid}: ${answer.error}`);
    }
    const status = String(data.status);
    if (status !== "running" || ctx.ends - Date.now() < WAIT_RESERVE_MS + pause) {
      const exitstatus = typeof data.exitstatus === "string" ? data.exitstatus : null;
      return { upid, status, exitstatus };
    }
    ctx.onProgress?.(`task ${upid.split(":")[5]} ${upid.split(":")[6]} on ${node} still running`);
    await sleep(pause, ctx.signal);
    ctx.signal.throwIfAborted();
  }
}

interface Slot {
  readonly guest?: PveGuest;
  readonly node?: string;
  readonly storage?: string;
}

function fill(path: string, slot: Slot): string {
  return path
    .replaceAll("{node}", slot.guest?.node ?? slot.node ?? "{node}")
    .replaceAll("{type}", slot.guest?.type ?? "{type}")
    .replaceAll("{vmid}", slot.guest ? String(slot.guest.vmid) : "{vmid}")
    .replaceAll("{storage}", slot.storage ?? "{storage}");
}

/** The query: the request's own, and its parameters with the item's `{vmid}`, `{node}`, … filled. */
function queryOf(request: PveRequest, slot: Slot): Record<string, string> | undefined {
  const params = Object.entries(request.params ?? {}).map(([key, value]) =>
    [key, typeof value === "string" ? fill(value, slot) : String(value)] as const
  );
  if (!request.query && params.length === 0) return undefined;
  return { ...request.query, ...Object.fromEntries(params) };
}

/**
 * Runs a proxmox plan on a target.
 *
 * Needs `net` for the target's host:port.
 *
 * @param target The compiled target.
 * @param plan The plan.
 * @param options Cancel signal, connection pool and progress listener.
 * @returns Every request's answer, with credentials scrubbed.
 * @throws {HttpFailure} Never anything else.
 */
export async function runProxmoxPlan(
  target: PveTarget,
  plan: ProxmoxPlan,
  options: PveRunOptions,
): Promise<ProxmoxResult> {
  const signal = options.signal;
  const ctx: Context = { ...options, target, plan, ends: Date.now() + plan.timeoutMs };
  try {
    const needGuests = plan.guests !== undefined || plan.requests.some((r) => r.each === "guest");
    const guests = needGuests ? await listGuests(ctx) : [];
    // A call that names guests (by id or tag) and finds none fails; an audit of none is empty.
    const named = plan.guests?.vmids !== undefined || plan.guests?.tags !== undefined;
    if (named && plan.requests.some((r) => r.each === "guest") && guests.length === 0) {
      throw new HttpFailure(
        "not_found",
        `No guest on target "${target.id}" matches the selection${
          target.nodes.length > 0 ? ` on its nodes (${target.nodes.join(", ")})` : ""
        }`,
      );
    }
    const items: PveItem[] = [];
    for (const [index, request] of plan.requests.entries()) {
      let slots: Slot[] = [{}];
      if (request.each === "guest") slots = guests.map((guest) => ({ guest }));
      if (request.each === "node") slots = (await listNodes(ctx)).map((node) => ({ node }));
      if (request.each === "backup_storage") slots = await listBackupStorages(ctx);
      for (const slot of slots) {
        const path = fill(request.path, slot);
        const sent = `${request.method} ${path}`;
        const query = queryOf(request, slot);
        const answer = await send(ctx, {
          method: request.method,
          path,
          ...(query ? { query } : {}),
        });
        let task: PveTask | undefined;
        if (request.wait && answer.error === null) {
          // A started task answers with its UPID; a task's status names its own.
          const status = answer.data as { upid?: unknown } | null;
          const upid = typeof answer.data === "string" ? answer.data : status?.upid;
          if (typeof upid === "string") task = await waitFor(ctx, upid);
        }
        items.push({ request: index, sent, ...slot, ...answer, ...(task ? { task } : {}) });
        if (slot.guest && slots.length > 1) {
          ctx.onProgress?.(`${slot.guest.vmid} ${answer.error === null ? "done" : "failed"}`);
        }
      }
    }
    return { kind: "proxmox", items, guests };
  } catch (error) {
    if (error instanceof HttpFailure) throw error;
    if (signal.aborted) throw new HttpFailure("cancelled", "The call was cancelled");
    throw new HttpFailure("internal", `The request to target "${target.id}" failed unexpectedly`);
  }
}
