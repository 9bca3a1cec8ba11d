/**
 * Shared set-up for docker tests: a registry of docker targets pointing at a
 * testbed engine, and an executor host running the real docker worker.
 *
 * @module
 */
import { parseTargets } from "../../src/config/load.ts";
import type { Registry } from "../../src/config/registry.ts";
import type { Target } from "../../src/config/targets_schema.ts";
import { DOCKER_KIND } from "../../src/exec/docker_kind.ts";
import { ExecutorHost } from "../../src/exec/host.ts";
import type { DockerPlan } from "../../src/exec/plan.ts";
import { type Operation, OperationError } from "../../src/ops/operation.ts";
import type { z } from "zod";

/** One docker target entry for the YAML registry. */
export interface TargetEntry {
  readonly id: string;
  readonly socket?: string;
  readonly host?: string;
  /** Env var names holding the TLS PEMs. */
  readonly tls?: { ca: string; cert: string; key: string };
  readonly timeoutMs?: number;
  readonly capBytes?: number;
}

/**
 * Builds a registry of docker targets.
 *
 * @param entries The targets.
 * @param env Values for `${VAR}` secret references.
 * @returns The registry.
 */
export function dockerRegistry(
  entries: readonly TargetEntry[],
  env: Record<string, string> = {},
): Promise<Registry> {
  const yaml = entries.map((e) => {
    const connection = e.socket
      ? `    connection: { socket: ${JSON.stringify(e.socket)} }`
      : `    connection:\n      host: ${
        JSON.stringify(e.host)
      }\n      tls: { ca: "\${${e.tls?.ca}}", cert: "\${${e.tls?.cert}}", key: "\${${e.tls?.key}}" }`;
    return [
      `  - id: ${e.id}`,
      "    type: docker",
      "    capabilities: [container:read, container:control, container:admin, stack:read, stack:control]",
      connection,
      `    constraints: { timeout_ms: ${e.timeoutMs ?? 30_000}, output_cap_bytes: ${
        e.capBytes ?? 1_048_576
      } }`,
    ].join("\n");
  }).join("\n");
  return parseTargets(`version: 1\ntargets:\n${yaml}\n`, "test.yaml", {
    secrets: { env: (name) => env[name], readFile: () => Promise.reject(new Error("no files")) },
  });
}

/**
 * An executor host with only the docker kind.
 *
 * @param registry The targets.
 * @returns The host; close it after the test.
 */
export function dockerHost(registry: Registry): ExecutorHost {
  return new ExecutorHost(registry, { kinds: [DOCKER_KIND], context: { programs: [] } });
}

/**
 * A docker plan with the target's limits.
 *
 * @param target The target.
 * @param plan The request part.
 * @returns The full plan.
 */
export function plan(
  target: Target,
  plan: Omit<DockerPlan, "kind" | "timeoutMs" | "outputCapBytes">,
): DockerPlan {
  return {
    kind: "docker",
    timeoutMs: target.constraints.timeout_ms,
    outputCapBytes: target.constraints.output_cap_bytes,
    ...plan,
  };
}

/** What calling an operation came to: its output, or the failure's code and message. */
export type CallOutcome<T> =
  | { readonly ok: true; readonly output: T }
  | { readonly ok: false; readonly code: string; readonly message: string };

/**
 * Runs an operation end to end the way the gateway does after the gate:
 * parse arguments, plan, execute in the worker, parse the result.
 *
 * @param host The executor host.
 * @param target The target.
 * @param call The operation and its raw arguments.
 * @returns The output, or the failure (executor or operation error).
 */
export async function callOperation<I extends z.ZodObject, O extends z.ZodType>(
  host: ExecutorHost,
  target: Target,
  call: { op: Operation<I, O>; args: unknown },
): Promise<CallOutcome<z.infer<O>>> {
  const args = call.op.input.parse(call.args);
  try {
    const outcome = await host.run(target, call.op.plan(args, target));
    if (!outcome.ok) return { ok: false, ...outcome.error };
    return { ok: true, output: call.op.output.parse(call.op.parse(outcome.result, args)) };
  } catch (error) {
    if (error instanceof OperationError) {
      return { ok: false, code: error.code, message: error.message };
    }
    throw error;
  }
}
