/**
 * Operator-defined operations on Docker targets: each step is one request
 * from a fixed allowlist of engine endpoints (`ENGINE_REQUESTS`: container
 * start, stop, restart, kill, pause, unpause, inspect; never exec). A
 * parameter fills the container as data: the filled text must be a container
 * reference (`containerRefSchema`) and is percent-encoded into one path
 * segment; `timeout_s` and `signal` are checked against their ranges and
 * allowlist. The requests go through the docker worker like the built-in
 * container operations, and inspect answers are redacted by the built-in
 * `container_inspect`'s own parser.
 *
 * @module
 */
import { z } from "zod";
import {
  ENGINE_SIGNALS,
  type EngineRequest,
  type EngineStepSpec,
  type OperationFile,
  PLACEHOLDER,
} from "../config/operations_schema.ts";
import type { Target } from "../config/targets_schema.ts";
import type { DockerPlan, PlanResult, SequencePlan } from "../exec/plan.ts";
import { containerPath, containerRefSchema, dockerAnswer, dockerPlan } from "./_docker_schemas.ts";
import { containerInspect } from "./container.ts";
import { OperationError, targetLimits } from "./operation.ts";

type Args = Record<string, string | number | boolean | undefined>;

/** Method and path suffix per request (inspect is a GET of the container itself). */
const ENDPOINTS: Readonly<Record<EngineRequest, { method: "GET" | "POST"; action: string }>> = {
  container_start: { method: "POST", action: "/start" },
  container_stop: { method: "POST", action: "/stop" },
  container_restart: { method: "POST", action: "/restart" },
  container_kill: { method: "POST", action: "/kill" },
  container_pause: { method: "POST", action: "/pause" },
  container_unpause: { method: "POST", action: "/unpause" },
  container_inspect: { method: "GET", action: "/json" },
};

function fill(text: string, args: Args): string {
  return text.replace(PLACEHOLDER, (_, name: string) => String(args[name] ?? ""));
}

function invalid(step: number, message: string): never {
  throw new OperationError("invalid_arguments", `Step ${step}: ${message}`);
}

/**
 * The engine request of one step for validated arguments.
 *
 * @param step The step.
 * @param args Validated arguments.
 * @param target The docker target.
 * @param index The step's number (from 1), for messages.
 * @returns The plan.
 * @throws {OperationError} `invalid_arguments` when the filled container, timeout or signal is
 *   not one the endpoint accepts (nothing is sent).
 */
export function engineStepPlan(
  step: EngineStepSpec,
  args: Args,
  target: Target,
  index: number,
): DockerPlan {
  const container = fill(step.container, args);
  if (!containerRefSchema.safeParse(container).success) {
    invalid(
      index,
      `the container ${JSON.stringify(container.slice(0, 140))} is not a container name or id`,
    );
  }
  const query: Record<string, string> = {};
  if (step.timeout_s !== undefined) {
    const seconds = Number(
      typeof step.timeout_s === "number" ? step.timeout_s : fill(step.timeout_s, args),
    );
    if (!Number.isInteger(seconds) || seconds < 0 || seconds > 600) {
      invalid(index, "timeout_s must be whole seconds from 0 to 600");
    }
    query.t = String(seconds);
  }
  if (step.signal !== undefined) {
    const signal = fill(step.signal, args);
    if (!(ENGINE_SIGNALS as readonly string[]).includes(signal)) {
      invalid(index, `the signal must be one of ${ENGINE_SIGNALS.join(", ")}`);
    }
    query.signal = signal;
  }
  const { method, action } = ENDPOINTS[step.engine];
  return dockerPlan(target, {
    method,
    path: `${containerPath(container)}${action}`,
    ...(Object.keys(query).length > 0 ? { query } : {}),
    response: method === "GET" ? "json" : "none",
    // A changing request is sent only when the container exists (the worker inspects first).
    ...(method === "POST" ? { requireContainer: container } : {}),
  });
}

/**
 * The plan of several engine steps: run in order by the executor host,
 * stopping at the first failure.
 *
 * @param steps The steps.
 * @param args Validated arguments.
 * @param target The docker target.
 * @returns The sequence.
 */
export function engineSequence(
  steps: readonly EngineStepSpec[],
  args: Args,
  target: Target,
): SequencePlan {
  const limits = targetLimits(target);
  return {
    kind: "sequence",
    ...limits,
    timeoutMs: limits.timeoutMs * steps.length,
    steps: steps.map((step, i) => ({ plan: engineStepPlan(step, args, target, i + 1) })),
  };
}

/** One engine step's outcome as the operation returns it. */
export const engineStepOutput = z.object({
  request: z.string(),
  status: z.number(),
  changed: z.boolean().nullable(),
  result: z.unknown().optional(),
});

/** What a docker operator operation returns. */
export const engineOutput = z.object({
  steps: z.array(engineStepOutput),
  result: z.unknown(),
});

/**
 * Reads a sequence of engine answers: each request's status, whether it
 * changed the container (204 against 304), inspect answers redacted as
 * `container_inspect` redacts them.
 *
 * @param steps The steps that ran.
 * @param result The sequence result.
 * @param args Validated arguments.
 * @returns Steps and the last step's result.
 * @throws {OperationError} The first step's failure, naming the step.
 */
export function parseEngineSteps(
  steps: readonly EngineStepSpec[],
  result: PlanResult,
  args: Args,
): z.infer<typeof engineOutput> {
  if (result.kind !== "sequence") {
    throw new OperationError("bad_output", `Expected a sequence result, found ${result.kind}`);
  }
  const out: z.infer<typeof engineStepOutput>[] = [];
  result.steps.forEach((ran, i) => {
    const step = steps[i];
    const container = fill(step.container, args);
    const { method, action } = ENDPOINTS[step.engine];
    const request = `${method} ${containerPath(container)}${action}`;
    const where = `Step ${i + 1} of ${steps.length} (${step.engine} ${container})`;
    if (!ran || !("ok" in ran)) return;
    if (!ran.ok) throw new OperationError(ran.error.code, `${where}: ${ran.error.message}`);
    try {
      if (step.engine === "container_inspect") {
        const inspected = containerInspect.parse(ran.result, { container });
        out.push({ request, status: 200, changed: null, result: inspected });
        return;
      }
      const answer = dockerAnswer(ran.result, {
        ok: step.engine === "container_kill" ? [204] : [204, 304],
        doing: `${step.engine.slice("container_".length)} container ${JSON.stringify(container)}`,
      });
      out.push({ request, status: answer.status, changed: answer.status === 204 });
    } catch (error) {
      if (error instanceof OperationError) {
        throw new OperationError(error.code, `${where}: ${error.message}`);
      }
      throw error;
    }
  });
  return { steps: out, result: out.at(-1)?.result ?? { changed: out.at(-1)?.changed ?? null } };
}

/**
 * A one-line rendering of the steps.
 *
 * @param spec The operation file.
 * @param out What {@linkcode parseEngineSteps} returned.
 * @returns The text.
 */
export function renderEngineSteps(spec: OperationFile, out: z.infer<typeof engineOutput>): string {
  return out.steps.map((s) =>
    `${s.request}: ${s.changed === null ? s.status : s.changed ? "done" : "already so"}`
  ).join("\n") || `${spec.name}: done`;
}
