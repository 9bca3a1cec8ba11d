/**
 * The shape of an operation: declared once, read by MCP registration, the
 * gate, dry run and the executor alike.
 *
 * @module
 */
import type { z } from "zod";
import type { Target } from "../config/targets_schema.ts";
import type { ExecFailure, Plan, PlanResult } from "../exec/plan.ts";
import { type Capability, type TargetType, type Tier, tierOf } from "../config/capabilities.ts";
import type { OperationFacts, ParamReach } from "../gate/policy.ts";
import type { Secret } from "../config/secret.ts";

/** An operation-level failure the model can act on, e.g. a program missing on the host. */
export class OperationError extends Error {
  /** Stable code, e.g. `program_missing` or `bad_output`. */
  readonly code: string;

  /**
   * @param code Stable code.
   * @param message A plain sentence for the client.
   */
  constructor(code: string, message: string) {
    super(message);
    this.name = "OperationError";
    this.code = code;
  }
}

/** Everything declared about one operation. */
export interface OperationSpec<
  I extends z.ZodObject = z.ZodObject,
  O extends z.ZodType = z.ZodType,
> {
  /** Tool name: lowercase snake_case. */
  readonly name: string;
  /** Short human title. */
  readonly title: string;
  /** What it does, for the model. */
  readonly description: string;
  /** The operation's own arguments; a strict object (unknown keys refused). */
  readonly input: I;
  /** The parsed result, per target. */
  readonly output: O;
  /** Capability needed; for argument-dependent needs see `capabilityFor`. */
  readonly capability: Capability;
  /** When the capability depends on the arguments (e.g. HTTP method), the exact one. */
  readonly capabilityFor?: (args: z.infer<I>) => Capability;
  /** Target types it runs on. */
  readonly targetTypes: readonly TargetType[];
  /** Whether it changes the target. */
  readonly mutates: boolean;
  /** Whether the change may destroy data or interrupt service. */
  readonly destructive: boolean;
  /**
   * What leaving out each optional parameter means for the call's reach
   * ("every unit"), and which parameters widen another (`all` for
   * `packages`). The gate reads it so that a rule limiting a parameter
   * cannot be stepped around by leaving it out; a parameter the operation
   * can run without should be declared here.
   */
  readonly paramReach?: Readonly<Record<string, ParamReach>>;
  /**
   * For an operation the gateway answers itself (`list_targets`): the
   * operations it reports on. See {@linkcode OperationFacts.visibleWith}.
   */
  readonly visibleWith?: readonly OperationFacts[];
  /** Programs its exec plans may run on a host (bare names); the local worker may run only these. */
  readonly programs: readonly string[];
  /**
   * Secrets its plans carry to hosts (template variables filled from secret
   * references): the gateway resolves nothing here, it hands them to its
   * secret scanner, so no result, error, audit record or log line holds them.
   */
  readonly secrets?: readonly Secret[];
  /** Turns validated arguments into a plan. Pure: no I/O, no clock. */
  readonly plan: (args: z.infer<I>, target: Target) => Plan;
  /**
   * For a mutating operation that can predict its change: the plan dry run
   * executes (e.g. `nginx -t`, `apt-get --simulate`) and shows the output of.
   */
  readonly checkPlan?: (args: z.infer<I>, target: Target) => Plan;
  /**
   * What dry run shows of the check plan's outcome (file_write: digests and a
   * diff). Without it, dry run shows the last command's exit code and output.
   * `target` is the one the check ran on (given by the call path; stack_deploy shows its
   * exact commands).
   */
  readonly describeCheck?: (
    outcome: { ok: true; result: PlanResult } | { ok: false; error: ExecFailure },
    args: z.infer<I>,
    target?: Target,
  ) => Record<string, unknown>;
  /**
   * The arguments as the audit log records them, when some must not be kept
   * in clear (file_write's content: digest and size only).
   */
  readonly auditArgs?: (args: z.infer<I>) => Record<string, unknown>;
  /**
   * Turns an executor result into the output shape.
   *
   * @throws {OperationError} When the result says the operation could not be done.
   */
  readonly parse: (result: PlanResult, args: z.infer<I>) => z.infer<O>;
  /** A short text rendering of the output for clients that show text only. */
  readonly render: (output: z.infer<O>) => string;
  /**
   * Long-running (package upgrades, compose): the command's output is sent
   * to the client as log messages while it runs, besides the result.
   */
  readonly streamsOutput?: boolean;
  /**
   * What the outputs of a multi-target call say together (top sources of
   * failed logins across hosts, say): set as the result's `aggregate`, and
   * its `text` is added to the text rendering. Pure.
   */
  readonly aggregate?: (
    outputs: readonly { readonly target: string; readonly data: z.infer<O> }[],
  ) => { readonly data: Record<string, unknown>; readonly text: string };
}

/** A declared operation, with the facts the gate reads derived from it. */
export interface Operation<I extends z.ZodObject = z.ZodObject, O extends z.ZodType = z.ZodType>
  extends OperationSpec<I, O>, OperationFacts {
  /** Tier of `capability`. */
  readonly tier: Tier;
  /** Names of the operation's own parameters. */
  readonly paramNames: readonly string[];
}

/**
 * Declares an operation; derives its tier and parameter names and freezes it.
 *
 * @param spec The declaration.
 * @returns The frozen operation.
 * @throws {TypeError} When the name is not snake_case, or `paramReach` names a parameter the
 *   operation does not have.
 */
export function defineOperation<I extends z.ZodObject, O extends z.ZodType>(
  spec: OperationSpec<I, O>,
): Operation<I, O> {
  if (!/^[a-z][a-z0-9_]{1,62}$/.test(spec.name)) {
    throw new TypeError(`Invalid operation name ${JSON.stringify(spec.name)}: expected snake_case`);
  }
  const paramNames = Object.freeze(Object.keys(spec.input.shape));
  for (const [name, reach] of Object.entries(spec.paramReach ?? {})) {
    for (const named of [name, ...(reach.widenedBy ?? [])]) {
      if (!paramNames.includes(named)) {
        throw new TypeError(
          `Operation "${spec.name}" declares the reach of ${
            JSON.stringify(named)
          }: expected one of its parameters (${paramNames.join(", ")})`,
        );
      }
    }
  }
  return Object.freeze({ ...spec, tier: tierOf(spec.capability), paramNames });
}

/**
 * The limits a plan for this target runs under.
 *
 * @param target The target.
 * @returns Timeout and output cap from the target's constraints.
 */
export function targetLimits(target: Target): { timeoutMs: number; outputCapBytes: number } {
  return {
    timeoutMs: target.constraints.timeout_ms,
    outputCapBytes: target.constraints.output_cap_bytes,
  };
}

/**
 * Whether commands of an operation run under `sudo -n` on a target.
 *
 * @param target The target.
 * @param operation The operation name.
 * @returns `true` when the target's sudo policy covers the operation.
 */
export function usesSudo(target: Target, operation: string): boolean {
  if (target.type !== "ssh") return false;
  return target.sudo === "all" || (Array.isArray(target.sudo) && target.sudo.includes(operation));
}
