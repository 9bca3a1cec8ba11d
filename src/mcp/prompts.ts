/**
 * Serves the MCP prompts of {@linkcode PROMPTS} per caller: `prompts/list`
 * shows a prompt only to a caller who may use the tools it needs,
 * `prompts/get` validates its arguments (one line, -32602) and writes the
 * guide naming only tools the caller may use on the selected targets; a
 * hidden prompt answers like an unknown one.
 *
 * @module
 */
import { z } from "zod";
import { callSelectorSchema } from "../config/selector.ts";
import { NAME_PATTERN } from "../config/targets_schema.ts";
import { STACK_NAME } from "../config/stacks_load.ts";
import type { Target } from "../config/targets_schema.ts";
import type { Identity } from "../gate/mod.ts";
import { containerRefSchema } from "../ops/_docker_schemas.ts";
import {
  type PromptArg,
  type PromptDef,
  PROMPTS,
  promptText,
  type PromptValues,
} from "./prompt_catalog.ts";
import { completePromptArgument } from "./completions.ts";
import { type PromptCore, stackNames, usableTools } from "./_usable_tools.ts";
import { type McpServer, ProtocolError, ProtocolErrorCode, type ServerContext } from "./sdk.ts";

/** Who makes a request (`undefined`: refuse it), from the handler's context. */
export type CallerOf = (ctx: ServerContext) => Identity | undefined;

/**
 * The prompts a caller may see: those whose needed tools the caller may use.
 *
 * @param core Registry, policy and catalog.
 * @param identity The caller.
 * @returns The prompts, in list order.
 */
export function visiblePrompts(core: PromptCore, identity: Identity): PromptDef[] {
  const usable = usableTools(core, identity);
  return PROMPTS.filter((prompt) => prompt.needs.every((tool) => usable.has(tool)));
}

const selectorArg = z.string().max(4096).transform((text, ctx) => {
  const terms = text.split(",").map((term) => term.trim()).filter((term) => term !== "");
  const parsed = callSelectorSchema.safeParse(terms.length === 0 ? [""] : terms);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: "custom", message: issue.message });
    }
    return z.NEVER;
  }
  return parsed.data.length === 1 ? parsed.data[0] : parsed.data;
});

const ARG_SCHEMAS: Record<PromptArg["kind"], z.ZodType> = {
  selector: selectorArg,
  target: z.string().regex(NAME_PATTERN, {
    error:
      'Invalid target: expected a target id (lowercase letters, digits, ".", "_", "-", at most 63 characters)',
  }),
  container: containerRefSchema,
  stack: z.string().regex(STACK_NAME, {
    error: 'Invalid stack: expected a stack name (a-z, 0-9, "_", "-", at most 63 characters)',
  }),
};

/** Where each argument kind goes in {@linkcode PromptValues}. */
const VALUE_KEY: Record<PromptArg["kind"], keyof PromptValues> = {
  selector: "targets",
  target: "target",
  container: "container",
  stack: "stack",
};

function oneLine(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 400 ? `${flat.slice(0, 400)}…` : flat;
}

/**
 * Validates a prompt's arguments.
 *
 * @param prompt The prompt.
 * @param raw The request's `arguments`.
 * @param stacks The stacks the caller may deploy.
 * @returns The values.
 * @throws {ProtocolError} -32602 with one line naming each bad argument.
 */
export function promptValues(
  prompt: PromptDef,
  raw: unknown,
  stacks: readonly string[],
): PromptValues {
  const schema = z.strictObject(
    Object.fromEntries(prompt.arguments.map((arg) => {
      const base = ARG_SCHEMAS[arg.kind];
      return [arg.name, arg.required ? base : base.optional()];
    })),
  );
  const parsed = schema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const where = issue.path.length > 0 ? issue.path.join(".") : "arguments";
      const message = issue.code === "invalid_type" && issue.input === undefined
        ? "required"
        : issue.message;
      return `${where}: ${message}`;
    });
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      oneLine(`Invalid arguments for prompt ${prompt.name}: ${problems.join("; ")}`),
    );
  }
  const values: Record<string, unknown> = {};
  for (const arg of prompt.arguments) {
    const value = (parsed.data as Record<string, unknown>)[arg.name];
    if (value !== undefined) values[VALUE_KEY[arg.kind]] = value;
  }
  if (typeof values.stack === "string" && !stacks.includes(values.stack)) {
    throw new ProtocolError(
      ProtocolErrorCode.InvalidParams,
      oneLine(
        `Invalid arguments for prompt ${prompt.name}: stack: expected one of ${
          stacks.join(", ")
        }, found ${JSON.stringify(values.stack)}`,
      ),
    );
  }
  return values as PromptValues;
}

/**
 * The guide for a caller: tools limited to those usable on the selected
 * targets (or the named target); when none of those lets the caller use the
 * tools the prompt needs, the text says so instead of guessing.
 *
 * @param core Registry, policy and catalog.
 * @param context The caller, the prompt and its values.
 * @returns The prompt's text.
 */
export function guideFor(
  core: PromptCore,
  context: { identity: Identity; prompt: PromptDef; values: PromptValues },
): string {
  const { identity, prompt, values } = context;
  const { registry } = core.deps;
  const selection = values.targets !== undefined
    ? registry.select(typeof values.targets === "string" ? [values.targets] : values.targets)
    : values.target !== undefined
    ? [registry.get(values.target)].filter((t): t is Target => t !== undefined)
    : registry.targets;
  const usable = usableTools(core, identity, selection);
  const everywhere = usableTools(core, identity);
  const missing = prompt.needs.filter((tool) => !usable.has(tool));
  if (missing.length > 0) {
    // Said the same way whether the selection matched hidden targets or none.
    const where = values.targets !== undefined
      ? `any target matching ${JSON.stringify(values.targets)}`
      : `target ${JSON.stringify(values.target)}`;
    return `You may not use ${missing.join(", ")} on ${where}.` +
      (everywhere.has("list_targets")
        ? ` Call list_targets ${
          JSON.stringify({ tool: missing[0] })
        } to see the targets where you may, then use this prompt with one of them.`
        : "");
  }
  return promptText(
    prompt,
    values,
    (tool) => usable.has(tool) || (tool === "list_targets" && everywhere.has(tool)),
  );
}

/**
 * Installs `prompts/list`, `prompts/get` and `completion/complete` on a
 * server, per request's caller. Call after everything else is registered:
 * `completion/complete` requests for resource templates go on to the handler
 * installed before, if any.
 *
 * @param server The server (not connected yet).
 * @param core Registry, policy and catalog.
 * @param callerOf Who makes a request, or `undefined` to refuse it.
 */
export function servePrompts(server: McpServer, core: PromptCore, callerOf: CallerOf): void {
  server.server.registerCapabilities({ prompts: { listChanged: false }, completions: {} });
  const promptFor = (ctx: ServerContext, name: unknown) => {
    const caller = callerOf(ctx);
    const prompt = caller && visiblePrompts(core, caller).find((p) => p.name === name);
    if (!caller || !prompt) {
      throw new ProtocolError(
        ProtocolErrorCode.InvalidParams,
        `Unknown prompt: ${JSON.stringify(String(name).slice(0, 100))}`,
      );
    }
    return { caller, prompt };
  };
  server.server.setRequestHandler("prompts/list", (_request, ctx) => {
    const caller = callerOf(ctx);
    return {
      prompts: (caller ? visiblePrompts(core, caller) : []).map((prompt) => ({
        name: prompt.name,
        title: prompt.title,
        description: prompt.description,
        arguments: prompt.arguments.map(({ name, description, required }) => ({
          name,
          description,
          required,
        })),
      })),
    };
  });
  server.server.setRequestHandler("prompts/get", (request, ctx) => {
    const { caller, prompt } = promptFor(ctx, request.params.name);
    const stacks = stackNames(core, usableTools(core, caller));
    const values = promptValues(prompt, request.params.arguments, stacks);
    return {
      description: prompt.description,
      messages: [{
        role: "user" as const,
        content: {
          type: "text" as const,
          text: guideFor(core, { identity: caller, prompt, values }),
        },
      }],
    };
  });
  // Resource-template refs go to whatever answered completions before (the
  // SDK's handler once a template with completions is registered; it refuses
  // to install itself over this one, hence "call last"). The SDK keeps its
  // handlers in a private map; its version is pinned.
  const handlers = (server.server as unknown as {
    _requestHandlers?: Map<string, (request: unknown, ctx: ServerContext) => Promise<unknown>>;
  })._requestHandlers;
  const previous = handlers?.get("completion/complete");
  server.server.setRequestHandler("completion/complete", async (request, ctx) => {
    const { ref, argument } = request.params;
    if (ref.type !== "ref/prompt") {
      if (!previous) {
        throw new ProtocolError(ProtocolErrorCode.InvalidParams, "Unknown completion reference");
      }
      return await previous(request, ctx) as { completion: { values: string[] } };
    }
    const { caller, prompt } = promptFor(ctx, ref.name);
    return {
      completion: completePromptArgument(core, {
        identity: caller,
        prompt,
        argument: argument.name,
        value: argument.value,
      }),
    };
  });
}
