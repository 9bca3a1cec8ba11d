/**
 * The operation catalog: every tool the gateway can offer, frozen at load.
 *
 * @module
 */
import { DOCKER_OPERATIONS } from "./docker_ops.ts";
import { HOST_OPERATIONS } from "./host_ops.ts";
import { HTTP_OPERATIONS } from "./http_ops.ts";
import type { Operation } from "./operation.ts";

/** Every operation, in the order tools are listed. */
export const CATALOG: readonly Operation[] = Object.freeze([
  ...HOST_OPERATIONS,
  ...DOCKER_OPERATIONS,
  ...HTTP_OPERATIONS,
]);

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
