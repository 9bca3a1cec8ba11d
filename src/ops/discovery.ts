/**
 * `list_targets`: the targets a caller may use, and what they may do on
 * each. The gateway answers it from its registry and policy (no executor
 * runs), so it is declared with the operations it reports on: the gate shows
 * a target only when one of them is usable there.
 *
 * @module
 */
import { z } from "zod";
import { TARGET_TYPES } from "../config/capabilities.ts";
import { defineOperation, type Operation, OperationError } from "./operation.ts";

/** What `list_targets` tells about one target. */
export const targetInfoSchema = z.object({
  type: z.enum(TARGET_TYPES),
  description: z.string(),
  tags: z.array(z.string()),
  groups: z.array(z.string()),
  tools: z.array(z.string()).describe("Tools you may call here"),
  approval: z.array(z.string()).describe("Of those, the ones that always need approval"),
});

/** One target as `list_targets` reports it. */
export type TargetInfo = z.infer<typeof targetInfoSchema>;

const toolNameSchema = z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, {
  error: 'Invalid tool: expected a tool name such as "top_processes"',
});

/**
 * Declares `list_targets` over the operations it reports on.
 *
 * @param operations The catalog's other operations.
 * @returns The operation; the gateway's call path answers it itself.
 */
export function listTargetsFor(operations: readonly Operation[]): Operation {
  return defineOperation({
    name: "list_targets",
    title: "List targets",
    description:
      "Lists the targets you may use: id, type, description, tags, groups, the tools you may call on each and which of those always need approval. Narrow with `targets` (a selector) or `tool` (only targets where that tool is callable).",
    input: z.strictObject({ tool: toolNameSchema.optional() }),
    paramReach: { tool: { absent: "every target you may use, whatever the tool" } },
    output: targetInfoSchema,
    // Not read by the gate (`visibleWith` decides); it makes the call an observe-tier one.
    capability: "system:read",
    targetTypes: TARGET_TYPES,
    mutates: false,
    destructive: false,
    programs: [],
    visibleWith: operations,
    plan: () => {
      throw new OperationError("unsupported", "list_targets is answered by the gateway itself");
    },
    parse: () => {
      throw new OperationError("unsupported", "list_targets is answered by the gateway itself");
    },
    render: (info) =>
      [
        `${info.type}${info.description ? `: ${info.description}` : ""}`,
        info.tags.length || info.groups.length
          ? `tags: ${info.tags.join(", ") || "-"}; groups: ${info.groups.join(", ") || "-"}`
          : "",
        `tools: ${info.tools.join(", ")}`,
        info.approval.length ? `need approval: ${info.approval.join(", ")}` : "",
      ].filter((line) => line !== "").join("\n"),
  });
}

/**
 * The catalog with `list_targets` first, reporting on the rest.
 *
 * @param operations Every other operation.
 * @returns The frozen catalog.
 */
export function withDiscovery(operations: readonly Operation[]): readonly Operation[] {
  return Object.freeze([listTargetsFor(operations), ...operations]);
}
