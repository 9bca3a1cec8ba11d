/**
 * The HTTP executor worker. Runs under `HTTP_KIND`'s permissions: `net` for
 * the HTTP targets' host:port list and nothing else (no read, write, env,
 * run, sys, ffi or import).
 *
 * Receives `configure` once (targets with credentials and CAs revealed), then
 * `run` and `cancel` messages; answers each `run` with one `result`. Imports
 * only the message protocol, the plan types and its own `_http_*` modules
 * (and the shared keep-alive pool). Idle connections are reused per target
 * and origin; a new `configure` closes them all, as does the worker's end.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { HttpPlan } from "../plan.ts";
import { type ResultText, textBuffers, type WorkerResponse } from "../protocol.ts";
import { ConnPool } from "./_conn_pool.ts";
import { serveWorkerMessages } from "./_worker_messages.ts";
import { compileConfig, type CompiledTarget } from "./_http_config.ts";
import { runHttpPlan } from "./_http_request.ts";
import { HttpFailure, redact } from "./_http_result.ts";

let targets: Map<string, CompiledTarget> | undefined;
const pool = new ConnPool<Deno.Conn>();

function post(message: WorkerResponse): void {
  self.postMessage(message);
}

async function run(
  id: number,
  targetId: string,
  plan: HttpPlan,
  signal: AbortSignal,
): Promise<void> {
  const target = targets?.get(targetId);
  if (!target) {
    const message = `Target ${JSON.stringify(targetId)} is not an http target this executor knows`;
    return post({ type: "result", id, ok: false, error: { code: "internal", message } });
  }
  try {
    const texts: ResultText[] = [];
    const result = await runHttpPlan(target, plan, signal, pool, texts);
    const message: WorkerResponse = { type: "result", id, ok: true, result, texts };
    self.postMessage(message, textBuffers(texts));
  } catch (error) {
    const failure = error instanceof HttpFailure
      ? error
      : new HttpFailure("internal", "The HTTP executor failed unexpectedly");
    const message = redact(failure.message, target.secrets, false);
    post({ type: "result", id, ok: false, error: { code: failure.code, message } });
    post({
      type: "log",
      level: "debug",
      message: "HTTP request to {target} failed: {code}",
      properties: { target: targetId, code: failure.code },
    });
  }
}

serveWorkerMessages<HttpPlan>({
  kind: "http",
  configure(config) {
    pool.closeAll();
    targets = compileConfig(config);
  },
  run,
});
