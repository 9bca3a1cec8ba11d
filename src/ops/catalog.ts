/**
 * The operation catalog: every tool the gateway can offer, frozen at load.
 *
 * @module
 */
import { DOCKER_OPERATIONS } from "./docker_ops.ts";
import { HOST_OPERATIONS } from "./host_ops.ts";
import { HTTP_OPERATIONS } from "./http_ops.ts";
import { PVE_OPERATIONS } from "./pve_ops.ts";
import { withDiscovery } from "./discovery.ts";
import { ConfigError, type ConfigProblem } from "../config/errors.ts";
import type { Registry } from "../config/registry.ts";
import type { Operation } from "./operation.ts";

/** Every built-in operation but `list_targets` (which is built over the final catalog). */
export const BUILTIN_OPERATIONS: readonly Operation[] = Object.freeze([
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
  ...PVE_OPERATIONS,
]);

/** Every operation, in the order tools are listed; `list_targets` first. */
export const CATALOG: readonly Operation[] = withDiscovery(BUILTIN_OPERATIONS);

/**
 * Programs operations may run on the gateway host, given which capabilities
 * its local targets have. The local worker is allowed to run these only.
 *
 * @param catalog The operations.
 * @param localCapabilities Capabilities of the registry's local targets.
 * @returns Distinct bare program names.
 */
export function localPrograms(
  catalog: readonly Operation[],
  localCapabilities: ReadonlySet<string>,
): string[] {
  return [
    ...new Set(
      catalog.filter((op) =>
        op.targetTypes.includes("local") && localCapabilities.has(op.capability)
      )
        .flatMap((op) => op.programs),
    ),
  ];
}

/**
 * Checks what a registry says about operations: every name in an ssh target's
 * `sudo` list must be an operation that runs on ssh targets (a typo would
 * silently run that operation without sudo).
 *
 * @param registry The loaded targets.
 * @param catalog The operations.
 * @throws {ConfigError} Naming each unknown operation and its target.
 */
export function checkRegistryAgainstCatalog(
  registry: Registry,
  catalog: readonly Operation[] = CATALOG,
): void {
  const sshOps = new Set(
    catalog.filter((op) => op.targetTypes.includes("ssh") && !op.visibleWith).map((op) => op.name),
  );
  const problems: ConfigProblem[] = [];
  registry.targets.forEach((target, index) => {
    if (target.type !== "ssh" || !Array.isArray(target.sudo)) return;
    for (const name of target.sudo) {
      if (!sshOps.has(name)) {
        problems.push({
          path: `targets[${index}].sudo`,
          message: `Target "${target.id}" lists ${
            JSON.stringify(name)
          } under sudo: expected an operation that runs on ssh targets (${[...sshOps].join(", ")})`,
        });
      }
    }
  });
  if (problems.length > 0) throw new ConfigError(problems);
}
