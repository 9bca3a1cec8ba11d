/**
 * Each operation's MCP tool, built once per process: the `registerTool`
 * config (zod schemas, annotations, `_meta`) and the JSON `tools/list` entry
 * the SDK would produce from it. The SDK's McpServer converts every input and
 * output schema to JSON Schema on each `tools/list` (8–18 ms for the catalog);
 * {@linkcode serveCachedToolList} answers from this cache instead, with the
 * same JSON made smaller (see `_compact_schema.ts`).
 *
 * @module
 */
import { z } from "zod";
import type { Operation } from "../ops/operation.ts";
import {
  ENVELOPE_KEYS,
  ENVELOPE_SHAPE,
  LISTED_ENVELOPE_KEYS,
  resultSchema,
  toolInputSchema,
} from "./envelope.ts";
import { compactSchema } from "./_compact_schema.ts";
import type { AuthInfo, McpServer, Tool } from "./sdk.ts";

/** What `McpServer.registerTool` takes for an operation, besides the callback. */
export interface ToolConfig {
  readonly title: string;
  readonly description: string;
  readonly inputSchema: z.ZodObject;
  readonly outputSchema: z.ZodObject;
  readonly annotations: {
    readonly readOnlyHint: boolean;
    readonly destructiveHint: boolean;
    readonly idempotentHint: boolean;
    readonly openWorldHint: boolean;
  };
  readonly _meta: Record<string, unknown>;
}

const UNLISTED = ENVELOPE_KEYS.filter((key) => !LISTED_ENVELOPE_KEYS.includes(key));

/**
 * Stand-ins for the listed envelope keys in the schema converted for
 * `tools/list`: `compactSchema` writes their JSON itself, so converting the
 * real ones (the selector above all) for every tool is wasted; only their
 * place and whether they are required carry over. The unlisted keys are left
 * out for the same reason: `compactSchema` drops them. Together this halves
 * the start-up cost of the first `tools/list`.
 */
const LISTED_STAND_INS = Object.fromEntries(
  LISTED_ENVELOPE_KEYS.map((key) => [
    key,
    ENVELOPE_SHAPE[key as keyof typeof ENVELOPE_SHAPE].isOptional()
      ? z.null().optional()
      : z.null(),
  ]),
);

const configs = new WeakMap<Operation, ToolConfig>();
const definitions = new WeakMap<Operation, Tool>();

/**
 * The `registerTool` config of an operation, built on first use and shared
 * by every session after.
 *
 * @param operation The operation.
 * @returns Title, description, zod schemas, annotations and `_meta`.
 * @throws {TypeError} When the operation uses a reserved parameter name.
 */
export function toolConfig(operation: Operation): ToolConfig {
  let config = configs.get(operation);
  if (config === undefined) {
    config = Object.freeze({
      title: operation.title,
      // The envelope is explained once, in the server's instructions.
      description: operation.description,
      inputSchema: toolInputSchema(operation),
      outputSchema: resultSchema(operation.output),
      annotations: Object.freeze({
        readOnlyHint: !operation.mutates,
        destructiveHint: operation.destructive,
        idempotentHint: !operation.mutates,
        openWorldHint: false,
      }),
      // The capability alone: its tier follows from the vocabulary, and the
      // target types from list_targets (each key costs bytes in every tool).
      _meta: Object.freeze({
        "tailops/capability": operation.capability,
      }),
    });
    configs.set(operation, config);
  }
  return config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The `tools/list` entry of an operation, converted once: the JSON the
 * SDK's McpServer (2.4) builds from {@linkcode toolConfig} on every list —
 * zod 4's `toJSONSchema` with target draft 2020-12, `io: "input"` for the
 * input schema and `io: "output"` for the output schema — with both schemas
 * made smaller by {@linkcode compactSchema} (v2 emits no `execution`). The
 * input is converted without the envelope keys `compactSchema` replaces or
 * drops (see `LISTED_STAND_INS`). A test compares the result with the SDK's
 * own conversion, and another keeps the list within its byte budget.
 *
 * @param operation The operation.
 * @returns The frozen tool definition.
 */
export function toolDefinition(operation: Operation): Tool {
  let definition = definitions.get(operation);
  if (definition === undefined) {
    const config = toolConfig(operation);
    definition = deepFreeze({
      name: operation.name,
      title: config.title,
      description: config.description,
      inputSchema: compactSchema(
        z.toJSONSchema(z.strictObject({ ...operation.input.shape, ...LISTED_STAND_INS }), {
          target: "draft-2020-12",
          io: "input",
        }),
        { io: "input", unlisted: UNLISTED },
      ) as Tool["inputSchema"],
      annotations: config.annotations,
      _meta: config._meta,
      outputSchema: compactSchema(
        z.toJSONSchema(config.outputSchema, { target: "draft-2020-12", io: "output" }),
        { io: "output" },
      ) as Tool["outputSchema"],
    });
    definitions.set(operation, definition);
  }
  return definition;
}

/**
 * Answers `tools/list` on a server from the cached definitions of the
 * operations registered on it, or of those `visibleTo` picks for each
 * request. Call after registering them (the SDK installs its own handler on
 * the first `registerTool`; this replaces it). With no operations nothing is
 * changed, as the SDK then has no tools handler either.
 *
 * @param server The server the operations were registered on.
 * @param operations The registered operations, in registration order.
 * @param visibleTo The operations one request may see (default: all of them).
 */
export function serveCachedToolList(
  server: McpServer,
  operations: readonly Operation[],
  visibleTo?: (extra: RequestExtra) => readonly Operation[],
): void {
  if (operations.length === 0) return;
  if (visibleTo === undefined) {
    const tools = operations.map(toolDefinition);
    server.server.setRequestHandler("tools/list", () => ({ tools }));
    return;
  }
  server.server.setRequestHandler("tools/list", (_request, ctx) => ({
    tools: visibleTo({ authInfo: ctx.http?.authInfo }).map(toolDefinition),
  }));
}

/** What a request handler is told about its request (the part read here). */
export type RequestExtra = { authInfo?: AuthInfo };
