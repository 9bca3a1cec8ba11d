/**
 * The message loop the HTTP and proxmox executor workers share: `configure`
 * answered with `ready` or `config_error`, `run` for plans of the worker's
 * own kind with an abort signal per call, and `cancel` by call id.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import type { Plan } from "../plan.ts";
import type { WorkerRequest, WorkerResponse } from "../protocol.ts";

/** What a worker plugs into {@linkcode serveWorkerMessages}. */
export interface WorkerHandlers<P extends Plan> {
  /** The plan kind this worker runs, e.g. `http`. */
  readonly kind: P["kind"];
  /** Takes the worker's configuration; throws to answer `config_error`. */
  configure(config: unknown): void;
  /** Runs one plan; posts its own `result`. */
  run(id: number, targetId: string, plan: P, signal: AbortSignal): Promise<void>;
}

/**
 * Installs the worker's message handler.
 *
 * @param handlers The worker's configure and run.
 */
export function serveWorkerMessages<P extends Plan>(handlers: WorkerHandlers<P>): void {
  const running = new Map<number, AbortController>();
  const post = (message: WorkerResponse) => self.postMessage(message);
  self.onmessage = (event: MessageEvent<WorkerRequest>) => {
    const message = event.data;
    if (message.type === "configure") {
      try {
        handlers.configure(message.config);
        post({ type: "ready" });
      } catch (error) {
        post({ type: "config_error", message: (error as Error).message });
      }
    } else if (message.type === "run") {
      if (message.plan.kind !== handlers.kind) {
        const error = {
          code: "internal" as const,
          message:
            `Expected ${/^[aeiou]/.test(handlers.kind) ? "an" : "a"} ${handlers.kind} plan, ` +
            `found ${message.plan.kind}`,
        };
        post({ type: "result", id: message.id, ok: false, error });
        return;
      }
      const controller = new AbortController();
      running.set(message.id, controller);
      void handlers.run(message.id, message.target, message.plan as P, controller.signal)
        .finally(() => running.delete(message.id));
    } else if (message.type === "cancel") {
      running.get(message.id)?.abort();
    }
  };
}
