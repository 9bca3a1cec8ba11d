/**
 * The docker executor worker. Runs Docker plans against the configured
 * engines; its Deno permissions (see `src/exec/docker_kind.ts`) name only the
 * engine sockets and TCP engines. Imports nothing from the main thread except
 * the message protocol and plan types.
 *
 * @module
 */
import type { ExecFailure, PlanResult } from "../plan.ts";
import {
  type ResultText,
  textBuffers,
  type WorkerRequest,
  type WorkerResponse,
} from "../protocol.ts";
import { ConnPool } from "./_conn_pool.ts";
import { DockerClient, type DockerEndpoint, DockerFailure } from "./_docker_client.ts";
import { runDockerPlan } from "./_docker_run.ts";

/** The dedicated-worker global, typed for our protocol. */
interface WorkerScope {
  postMessage(message: WorkerResponse, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
}

const scope = globalThis as unknown as WorkerScope;
const clients = new Map<string, DockerClient>();
const running = new Map<number, AbortController>();
/** Idle keep-alive connections per engine; a new `configure` closes them all. */
const pool = new ConnPool<Deno.Conn>();
let configured = false;

function post(message: WorkerResponse): void {
  scope.postMessage(message);
}

function validEndpoint(value: unknown): value is DockerEndpoint {
  const e = value as Record<string, unknown> | null;
  if (typeof e !== "object" || e === null) return false;
  if (e.transport === "unix") return typeof e.path === "string" && e.path.startsWith("/");
  return e.transport === "tls" && typeof e.hostname === "string" && typeof e.port === "number" &&
    typeof e.caCert === "string" && typeof e.cert === "string" && typeof e.key === "string";
}

function configure(config: unknown): void {
  pool.closeAll();
  const targets = (config as { targets?: unknown } | null)?.targets;
  if (typeof targets !== "object" || targets === null) {
    post({ type: "config_error", message: "Expected { targets: { id: endpoint } }" });
    return;
  }
  for (const [id, endpoint] of Object.entries(targets)) {
    if (!validEndpoint(endpoint)) {
      post({ type: "config_error", message: `Invalid endpoint for target "${id}"` });
      return;
    }
    clients.set(id, new DockerClient(id, endpoint, pool));
  }
  configured = true;
  post({ type: "ready" });
}

async function run(
  id: number,
  target: string,
  plan: WorkerRequest & { type: "run" },
): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  const timer = setTimeout(() => {
    controller.abort(
      new DockerFailure(
        "timeout",
        `The call took longer than ${plan.plan.timeoutMs} ms and was stopped`,
      ),
    );
  }, plan.plan.timeoutMs);
  try {
    const client = clients.get(target);
    if (!client) {
      throw new DockerFailure(
        "internal",
        `Target "${target}" is not configured in the docker executor`,
      );
    }
    if (plan.plan.kind !== "docker") {
      throw new DockerFailure(
        "internal",
        `The docker executor runs docker plans only, found "${plan.plan.kind}"`,
      );
    }
    const texts: ResultText[] = [];
    const result: PlanResult = await runDockerPlan(client, plan.plan, {
      target,
      signal: controller.signal,
      texts,
    });
    scope.postMessage({ type: "result", id, ok: true, result, texts }, textBuffers(texts));
  } catch (error) {
    const failure = toFailure(error, controller.signal);
    if (failure.code === "internal" || failure.code === "bad_response") {
      post({
        type: "log",
        level: "warning",
        message: "Docker call failed: {cause}",
        properties: { target, cause: String(error) },
      });
    }
    post({ type: "result", id, ok: false, error: failure });
  } finally {
    clearTimeout(timer);
    running.delete(id);
  }
}

function toFailure(error: unknown, signal: AbortSignal): ExecFailure {
  if (signal.aborted && signal.reason instanceof DockerFailure) {
    return { code: signal.reason.code, message: signal.reason.message };
  }
  if (error instanceof DockerFailure) return { code: error.code, message: error.message };
  return { code: "internal", message: "The docker executor failed unexpectedly" };
}

scope.onmessage = (event) => {
  const message = event.data;
  if (message.type === "configure") configure(message.config);
  else if (message.type === "cancel") {
    running.get(message.id)?.abort(new DockerFailure("cancelled", "The call was cancelled"));
  } else if (message.type === "run") {
    if (!configured) {
      post({
        type: "result",
        id: message.id,
        ok: false,
        error: { code: "internal", message: "The docker executor is not configured" },
      });
    } else void run(message.id, message.target, message);
  }
};
