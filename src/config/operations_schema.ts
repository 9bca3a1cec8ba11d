/**
 * The schema of an operator-defined operation file (`operations/*.yaml`): one
 * operation an operator allows in advance, with typed parameters and argv
 * templates. Turning a validated file into a tool is `src/ops/operator.ts`.
 *
 * @module
 */
import { z } from "zod";
import { capabilitySchema, TARGET_TYPE_CAPABILITIES } from "./capabilities.ts";
import { patternProblem } from "./pattern.ts";
import { absolutePathSchema } from "./targets_schema.ts";

/** A `{{name}}` placeholder in an argv element. */
export const PLACEHOLDER = /\{\{([a-z][a-z0-9_]{0,62})\}\}/g;

/** Longest string value a parameter may declare (`max_length`). */
export const MAX_STRING_PARAM = 4096;

/**
 * Programs that run their arguments as code or as another program. A step
 * naming one would let a parameter's text become a program, so they are
 * refused whatever the operator writes (`sudo` is added by the gateway, per step).
 */
export const LAUNCHERS: ReadonlySet<string> = new Set([
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "csh",
  "tcsh",
  "fish",
  "ash",
  "busybox",
  "env",
  "sudo",
  "doas",
  "su",
  "runuser",
  "setsid",
  "xargs",
  "nohup",
  "nice",
  "ionice",
  "timeout",
  "chroot",
  "nsenter",
  "unshare",
  "systemd-run",
  "watch",
  "script",
  "expect",
  "ssh",
  "eval",
  "exec",
  "python",
  "python3",
  "perl",
  "ruby",
  "node",
  "deno",
  "php",
  "lua",
  "awk",
  "gawk",
  "mawk",
  "tclsh",
  "stdbuf",
  "flock",
  "strace",
  "gdb",
]);

const PROGRAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

/** A program as written: an absolute path, or a bare name found in the fixed system PATH. */
export const programSchema = z.string().superRefine((program, ctx) => {
  if (!absolutePathSchema.safeParse(program).success && !PROGRAM_NAME.test(program)) {
    ctx.addIssue({
      code: "custom",
      message: `Invalid program ${
        JSON.stringify(program)
      }: expected an absolute path or a bare program name (letters, digits, ".", "_", "+", "-"), with no placeholder`,
    });
    return;
  }
  if (program.includes("{")) {
    ctx.addIssue({
      code: "custom",
      message: "Invalid program: a program cannot hold a placeholder",
    });
  }
  const base = program.slice(program.lastIndexOf("/") + 1);
  if (LAUNCHERS.has(base) || /^python[0-9.]*$|^perl[0-9.]*$/.test(base)) {
    ctx.addIssue({
      code: "custom",
      message: `Invalid program ${
        JSON.stringify(program)
      }: a shell, interpreter or program launcher would run parameter text as a program`,
    });
  }
});

const common = {
  description: z.string().max(500).default(""),
  optional: z.boolean().default(false),
};

const patternSchema = z.string().superRefine((source, ctx) => {
  const problem = patternProblem(source);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** One typed parameter. Each type is an allowlist; none can start with `-`. */
export const paramSchema = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("string"),
    ...common,
    /** RE2, anchored: the whole value must match. */
    pattern: patternSchema.optional(),
    enum: z.array(z.string().min(1).max(256)).min(1).max(256).optional(),
    max_length: z.int().min(1).max(MAX_STRING_PARAM).default(256),
    default: z.string().optional(),
  }).refine((p) => (p.pattern === undefined) !== (p.enum === undefined), {
    error: 'Invalid string parameter: expected exactly one of "pattern" or "enum" (an allowlist)',
  }),
  z.strictObject({
    type: z.literal("integer"),
    ...common,
    // Non-negative: a negative number filling a whole argv element would read as an option.
    min: z.int().min(0).default(0),
    max: z.int().min(0).max(2 ** 31 - 1).default(2 ** 31 - 1),
    default: z.int().optional(),
  }).refine((p) => p.min <= p.max, { error: "Invalid integer parameter: expected min <= max" }),
  z.strictObject({ type: z.literal("boolean"), ...common, default: z.boolean().optional() }),
  z.strictObject({ type: z.literal("path"), ...common }),
  z.strictObject({ type: z.literal("unit"), ...common }),
  z.strictObject({ type: z.literal("container"), ...common }),
  z.strictObject({ type: z.literal("package"), ...common }),
], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? 'Invalid parameter type: expected "string", "integer", "boolean", "path", "unit", "container" or "package"'
      : undefined,
});

/** A parameter declaration. */
export type ParamSpec = z.infer<typeof paramSchema>;

const elementSchema = z.string().max(4096).refine((text) => !text.includes("\0"), {
  error: "Invalid argv element: expected no NUL character",
});

/** An argv element: text with `{{param}}` placeholders, or a group used only when a parameter is set. */
export const argvItemSchema = z.union([
  elementSchema,
  z.strictObject({
    /** A boolean parameter that is true, or an optional parameter that was given. */
    when: z.string().regex(/^[a-z][a-z0-9_]{0,62}$/),
    argv: z.array(elementSchema).min(1).max(32),
  }),
]);

/** One argv element or conditional group. */
export type ArgvItem = z.infer<typeof argvItemSchema>;

/** One step: an argv template whose first element is a literal program. */
export const stepSchema = z.strictObject({
  program: programSchema,
  args: z.array(argvItemSchema).max(64).default([]),
  /** Run under `sudo -n` on SSH targets whose `sudo` setting covers this operation. */
  sudo: z.boolean().default(false),
});

/** A step declaration. */
export type StepSpec = z.infer<typeof stepSchema>;

/** The whole file. */
export const operationFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }),
  name: z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, {
    error: "Invalid name: expected snake_case (a-z, 0-9, _), 2 to 63 characters",
  }),
  title: z.string().min(1).max(100),
  description: z.string().min(1).max(2000),
  target_types: z.array(z.enum(["local", "ssh"], {
    error: 'Invalid target type: expected "local" or "ssh"',
  })).min(1),
  capability: capabilitySchema,
  mutates: z.boolean(),
  destructive: z.boolean().default(false),
  /** Ceiling for the whole operation; the target's own `timeout_ms` still applies. */
  timeout_ms: z.int().min(100).max(3_600_000).optional(),
  /** Ceiling on each stream of each step; the target's own cap still applies. */
  output_cap_bytes: z.int().min(1024).max(16 * 1024 * 1024).optional(),
  parameters: z.record(
    z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, {
      error: "Invalid parameter name: expected snake_case starting with a letter",
    }),
    paramSchema,
  ).default({}),
  steps: z.array(stepSchema).min(1).max(16),
  /** A step that predicts what the operation would change; dry run runs it and shows its output. */
  check: stepSchema.optional(),
  /** How the last step's stdout is returned besides the raw text. */
  parse: z.enum(["text", "lines", "json", "key_value"]).default("text"),
  /** Send the steps' output to the client as log messages while they run (long-running steps). */
  stream_output: z.boolean().default(false),
}).superRefine((file, ctx) => {
  for (const type of file.target_types) {
    if (!TARGET_TYPE_CAPABILITIES[type].includes(file.capability)) {
      ctx.addIssue({
        code: "custom",
        path: ["capability"],
        message: `Capability "${file.capability}" cannot be held by ${type} targets`,
      });
    }
  }
  if (file.destructive && !file.mutates) {
    ctx.addIssue({
      code: "custom",
      path: ["destructive"],
      message: "Invalid destructive: an operation that does not mutate cannot be destructive",
    });
  }
  const steps = [
    ...file.steps.map((step, i) => ({ step, path: ["steps", i] })),
    ...(file.check ? [{ step: file.check, path: ["check"] }] : []),
  ];
  for (const { step, path } of steps) checkStep(step, file.parameters, path, ctx);
});

/** A validated operation file. */
export type OperationFile = z.infer<typeof operationFileSchema>;

/**
 * Whether a parameter declares a default (it is then always present).
 *
 * @param param The parameter.
 * @returns `true` when it has a default.
 */
export function hasDefault(param: ParamSpec): boolean {
  return "default" in param && param.default !== undefined;
}

function checkElement(
  text: string,
  params: Record<string, ParamSpec>,
  guarded: string | undefined,
  report: (message: string) => void,
): void {
  for (const match of text.matchAll(PLACEHOLDER)) {
    const name = match[1];
    const param = params[name];
    if (!param) {
      report(`Unknown parameter ${JSON.stringify(name)} in ${JSON.stringify(text)}`);
    } else if (param.optional && !hasDefault(param) && guarded !== name) {
      report(
        `Parameter ${JSON.stringify(name)} is optional: it may only appear inside a ` +
          `group "when: ${name}"`,
      );
    }
  }
  if (text.replace(PLACEHOLDER, "").includes("{{")) {
    report(`Invalid placeholder in ${JSON.stringify(text)}: expected {{name}}`);
  }
}

function checkStep(
  step: StepSpec,
  params: Record<string, ParamSpec>,
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  step.args.forEach((item, i) => {
    const at = [...path, "args", i];
    const report = (message: string) => ctx.addIssue({ code: "custom", path: at, message });
    if (typeof item === "string") return checkElement(item, params, undefined, report);
    const param = params[item.when];
    if (!param) report(`Unknown parameter ${JSON.stringify(item.when)} in "when"`);
    else if (param.type !== "boolean" && !param.optional) {
      report(`Invalid when ${JSON.stringify(item.when)}: expected a boolean or optional parameter`);
    }
    for (const text of item.argv) checkElement(text, params, item.when, report);
  });
}
