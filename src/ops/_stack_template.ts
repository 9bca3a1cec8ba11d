/**
 * Env templates in curated stacks (`NAME.tailops-template.yaml`, see
 * `src/config/stacks_load.ts`): the `variables` argument of `stack_deploy`
 * and `stack_diff`, checked against the named stack's templates before the
 * gate, and the stack's files as deployed, templates filled like
 * file_write's (one pass, values as data, secrets from their references).
 *
 * @module
 */
import { z } from "zod";
import type { Secret } from "../config/secret.ts";
import type { Stack } from "../config/stacks_load.ts";
import { templateSecrets, type VariableSpec } from "../config/templates_load.ts";
import { renderTemplate } from "./_file_template.ts";
import { paramZod } from "./operator.ts";
import { OperationError } from "./operation.ts";

/** A stack file as deployed: its name, its text and the secret values the text holds. */
export interface DeployedFile {
  readonly name: string;
  readonly content: string;
  readonly secrets: readonly string[];
}

/** A caller-given variable of a stack: its declaration and the templates that use it. */
interface StackVariable {
  readonly spec: Exclude<VariableSpec, { type: "secret" }>;
  readonly templates: readonly string[];
}

/** The variables a stack's calls give (secret ones are the gateway's), by name. */
function variablesOf(stack: Stack): Map<string, StackVariable> {
  const out = new Map<string, StackVariable>();
  for (const file of stack.files) {
    if (!("template" in file)) continue;
    for (const [name, spec] of Object.entries(file.template.variables)) {
      if (spec.type === "secret") continue;
      // Loading made sure every template declares a shared variable the same way.
      out.set(name, { spec, templates: [...(out.get(name)?.templates ?? []), file.name] });
    }
  }
  return out;
}

/** The names of a stack's secret variables. */
function secretNames(stack: Stack): string[] {
  return stack.files.flatMap((file) =>
    "template" in file ? templateSecrets(file.template).map(([name]) => name) : []
  );
}

function quote(names: readonly string[]): string {
  return names.map((n) => JSON.stringify(n)).join(", ");
}

/**
 * The caller's variables for a stack, checked and with defaults applied, or
 * the one line saying what is wrong (naming the template and the variable).
 *
 * @param stack The stack.
 * @param given The caller's variables.
 * @returns `{ values }` or `{ problem }`.
 */
export function checkStackVariables(
  stack: Stack,
  given: Readonly<Record<string, unknown>>,
): { values: Record<string, unknown> } | { problem: string } {
  const declared = variablesOf(stack);
  for (const name of Object.keys(given)) {
    if (declared.has(name)) continue;
    if (secretNames(stack).includes(name)) {
      return {
        problem: `Invalid variable ${JSON.stringify(name)} for stack ${
          JSON.stringify(stack.name)
        }: it is a secret, filled by the gateway from its reference, never given by a call`,
      };
    }
    return {
      problem: `Unknown variable ${JSON.stringify(name)} for stack ${JSON.stringify(stack.name)}: ${
        declared.size === 0
          ? "its files take no variables"
          : `expected one of ${quote([...declared.keys()])}`
      }`,
    };
  }
  const values: Record<string, unknown> = {};
  for (const [name, { spec, templates }] of declared) {
    const checked = paramZod(name, spec).safeParse(given[name]);
    const where = `for template ${quote(templates)} of stack ${JSON.stringify(stack.name)}`;
    if (!checked.success) {
      return {
        problem: given[name] === undefined
          ? `Missing variable ${JSON.stringify(name)} ${where}: expected a ${spec.type}`
          : `Invalid variable ${JSON.stringify(name)} ${where}: ${
            checked.error.issues[0].message.replace(/^Invalid [a-z0-9_]+: /, "")
          }`,
      };
    }
    values[name] = checked.data;
  }
  return { values };
}

/**
 * The `variables` argument of the stack operations that render files.
 *
 * @param stacks The curated stacks.
 * @returns Its schema, described with each stack's variables.
 */
export function stackVariablesArg(stacks: readonly Stack[]) {
  const described = stacks.flatMap((stack) => {
    const vars = [...variablesOf(stack)].map(([name, { spec, templates }]) =>
      `${name}: ${spec.type}${spec.optional || "default" in spec ? "?" : ""} (${
        templates.join(", ")
      })`
    );
    return vars.length === 0 ? [] : [`${stack.name}: ${vars.join(", ")}`];
  });
  return z.record(z.string().max(63), z.union([z.string().max(4096), z.number(), z.boolean()]))
    .default({}).describe(
      "Values for the stack's env templates (secret ones are filled by the gateway)" +
        (described.length === 0 ? "" : `: ${described.join("; ")}`),
    );
}

/**
 * A zod refinement refusing, before the gate, variables the named stack's
 * templates do not take, lack or cannot use.
 *
 * @param stacks The curated stacks.
 * @returns The refinement, for `superRefine`.
 */
export function refineStackVariables(stacks: readonly Stack[]) {
  return (
    args: { stack: string; variables: Record<string, unknown> },
    ctx: z.RefinementCtx,
  ): void => {
    const stack = stacks.find((s) => s.name === args.stack);
    if (!stack) return;
    const checked = checkStackVariables(stack, args.variables);
    if ("problem" in checked) {
      ctx.addIssue({ code: "custom", path: ["variables"], message: checked.problem });
    }
  };
}

/**
 * A stack's files as deployed with these variables: plain files as they are,
 * templates filled.
 *
 * @param stack The stack.
 * @param variables The caller's variables.
 * @returns The files, in the stack's order.
 * @throws {OperationError} `invalid_arguments` naming the template and variable.
 */
export function deployedFiles(
  stack: Stack,
  variables: Readonly<Record<string, unknown>>,
): DeployedFile[] {
  const checked = checkStackVariables(stack, variables);
  if ("problem" in checked) throw new OperationError("invalid_arguments", checked.problem);
  return stack.files.map((file) => {
    if (!("template" in file)) return { name: file.name, content: file.content, secrets: [] };
    const { text, secrets } = renderTemplate(file.template, checked.values);
    return { name: file.name, content: text, secrets };
  });
}

/**
 * The secrets the stacks' templates fill in, for the gateway's redaction.
 *
 * @param stacks The curated stacks.
 * @returns The secrets.
 */
export function stackSecrets(stacks: readonly Stack[]): Secret[] {
  return stacks.flatMap((stack) =>
    stack.files.flatMap((file) =>
      "template" in file ? templateSecrets(file.template).map(([, secret]) => secret) : []
    )
  );
}
