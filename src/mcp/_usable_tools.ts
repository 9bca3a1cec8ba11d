/**
 * Which tools a caller may use where, and which stacks it may deploy: what
 * prompts and completions offer a caller, decided by the gate's `couldUse`.
 *
 * @module
 */
import type { Target } from "../config/targets_schema.ts";
import { couldUse, type Identity } from "../gate/mod.ts";
import type { Operation } from "../ops/operation.ts";
import type { CallDeps } from "./call_deps.ts";

/**
 * What prompts and completions read of the gateway: its registry, policy
 * and catalog (a `GatewayCore` is one; named apart so that these modules
 * need not import the server that wires them).
 */
export interface PromptCore {
  readonly deps: Pick<CallDeps, "registry" | "policy">;
  readonly catalog: readonly Operation[];
}

/**
 * The names of the operations a caller may use on at least one of `targets`.
 *
 * @param core Registry, policy and catalog.
 * @param identity The caller.
 * @param targets Where (default: every target).
 * @returns Operation names.
 */
export function usableTools(
  core: PromptCore,
  identity: Identity,
  targets: readonly Target[] = core.deps.registry.targets,
): Set<string> {
  return new Set(
    core.catalog.filter((operation) =>
      targets.some((target) => couldUse({ identity, operation, target }, core.deps.policy))
    ).map((op) => op.name),
  );
}

/**
 * The stacks `stack_deploy` offers among some operations (none without it).
 *
 * @param core The catalog.
 * @param usable The names of the operations the caller may use.
 * @returns Stack names.
 */
export function stackNames(core: PromptCore, usable: ReadonlySet<string>): readonly string[] {
  const deploy = core.catalog.find((op) => op.name === "stack_deploy" && usable.has(op.name));
  const field = deploy?.input.shape.stack as { options?: readonly string[] } | undefined;
  return field?.options ?? [];
}
