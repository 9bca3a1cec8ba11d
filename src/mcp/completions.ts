/**
 * Completions (`completion/complete`) for prompt arguments: target ids,
 * selector atoms (ids, `tag:NAME`, `group:NAME`) and stack names, drawn only
 * from targets where the caller may use a tool the prompt needs, so a
 * completion never names a target, tag or group the caller cannot see.
 * Container names are not completed: that would need a call to the target.
 *
 * @module
 */
import { couldUse, type Identity } from "../gate/mod.ts";
import type { PromptDef } from "./prompt_catalog.ts";
import { type PromptCore, stackNames, usableTools } from "./_usable_tools.ts";

/** Most values in one answer (the MCP limit). */
export const MAX_COMPLETIONS = 100;

/** Longest value completed; longer ones get no suggestions. */
const MAX_VALUE = 1024;

/** A `completion/complete` result's `completion`. */
export interface Completion {
  values: string[];
  total: number;
  hasMore: boolean;
}

const NONE: Completion = { values: [], total: 0, hasMore: false };

function bounded(values: readonly string[]): Completion {
  return {
    values: values.slice(0, MAX_COMPLETIONS),
    total: values.length,
    hasMore: values.length > MAX_COMPLETIONS,
  };
}

/**
 * Completes one argument of a prompt for a caller.
 *
 * @param core Registry, policy and catalog.
 * @param request The caller, the prompt, the argument's name and what was typed so far.
 * @returns At most {@linkcode MAX_COMPLETIONS} values, with the total count.
 */
export function completePromptArgument(
  core: PromptCore,
  request: {
    identity: Identity;
    prompt: PromptDef;
    argument: string;
    value: string;
  },
): Completion {
  const { identity, prompt, value } = request;
  const arg = prompt.arguments.find((a) => a.name === request.argument);
  if (!arg || typeof value !== "string" || value.length > MAX_VALUE) return NONE;
  const needed = core.catalog.filter((op) => prompt.needs.includes(op.name));
  // The targets this caller may use the prompt's tools on: nothing else is offered.
  const seen = core.deps.registry.targets.filter((target) =>
    needed.some((operation) => couldUse({ identity, operation, target }, core.deps.policy))
  );
  switch (arg.kind) {
    case "target":
      return bounded(seen.map((t) => t.id).filter((id) => id.startsWith(value)));
    case "stack": {
      const stacks = stackNames(core, usableTools(core, identity));
      return bounded(stacks.filter((name) => name.startsWith(value)));
    }
    case "selector": {
      // Complete the last atom of the last term: "tag:web&gr" → "tag:web&group:…".
      const cut = Math.max(value.lastIndexOf(","), value.lastIndexOf("&"));
      let head = value.slice(0, cut + 1);
      let atom = value.slice(cut + 1);
      if (atom.startsWith("!")) {
        head += "!";
        atom = atom.slice(1);
      }
      const atoms = new Set<string>();
      for (const t of seen) atoms.add(t.id);
      for (const t of seen) for (const tag of t.tags) atoms.add(`tag:${tag}`);
      for (const t of seen) for (const group of t.groups) atoms.add(`group:${group}`);
      return bounded([...atoms].filter((a) => a.startsWith(atom)).map((a) => head + a));
    }
    default:
      return NONE;
  }
}
