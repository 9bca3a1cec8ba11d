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

/**
 * The Docker Engine requests an operation file may name, and nothing else:
 * container lifecycle changes and inspect. `exec` is not offered: it would
 * run parameter text as a program inside the container.
 */
export const ENGINE_REQUESTS = [
  "container_start",
  "container_stop",
  "container_restart",
  "container_kill",
  "container_pause",
  "container_unpause",
  "container_inspect",
] as const;

/** An engine request's name. */
export type EngineRequest = typeof ENGINE_REQUESTS[number];

/** Signals `container_kill` may send. */
export const ENGINE_SIGNALS = [
  "SIGTERM",
  "SIGKILL",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
] as const;

/**
 * One request to a Docker target's engine: an allowlisted endpoint, the
 * container filled from parameters (as data: validated as a container
 * reference, then percent-encoded into one path segment).
 */
export const engineStepSchema = z.strictObject({
  engine: z.enum(ENGINE_REQUESTS, {
    error: `Invalid engine request: expected one of ${
      ENGINE_REQUESTS.join(", ")
    } (exec is not offered: it would run parameter text as a program)`,
  }),
  container: elementSchema,
  /** container_stop, container_restart: seconds before SIGKILL, or "{{integer_param}}". */
  timeout_s: z.union([z.int().min(0).max(600), z.string().max(70)]).optional(),
  /** container_kill: a signal name, or "{{param}}" whose value must be one. */
  signal: z.string().max(70).optional(),
});

/** An engine step declaration. */
export type EngineStepSpec = z.infer<typeof engineStepSchema>;

/**
 * An exec step (`program`) or an engine step (`engine`), told apart by which
 * key it has, so each kind's problems are reported in its own terms.
 */
const anyStepSchema = z.unknown().transform((item, ctx) => {
  const schema = item !== null && typeof item === "object" && "engine" in item
    ? engineStepSchema
    : stepSchema;
  const parsed = schema.safeParse(item);
  if (parsed.success) return parsed.data as StepSpec | EngineStepSpec;
  for (const issue of parsed.error.issues) ctx.addIssue({ ...issue } as never);
  return z.NEVER;
});

/**
 * Whether a step is an engine request.
 *
 * @param step A step.
 * @returns `true` for an engine step.
 */
export function isEngineStep(step: StepSpec | EngineStepSpec): step is EngineStepSpec {
  return "engine" in step;
}

/** The whole file. */
export const operationFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }),
  name: z.string().regex(/^[a-z][a-z0-9_]{1,62}$/, {
    error: "Invalid name: expected snake_case (a-z, 0-9, _), 2 to 63 characters",
  }),
  title: z.string().min(1).max(100),
  description: z.string().min(1).max(2000),
  target_types: z.array(z.enum(["local", "ssh", "docker"], {
    error: 'Invalid target type: expected "local", "ssh" or "docker" (engine requests)',
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
  steps: z.array(anyStepSchema).min(1).max(16),
  /** A step that predicts what the operation would change; dry run runs it and shows its output. */
  check: anyStepSchema.optional(),
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
  const docker = file.target_types.includes("docker");
  if (docker && file.target_types.length > 1) {
    ctx.addIssue({
      code: "custom",
      path: ["target_types"],
      message: "Invalid target_types: docker operations (engine requests) run on docker targets " +
        "only; declare host commands in another file",
    });
  }
  for (const { step, path } of steps) {
    if (isEngineStep(step) !== docker) {
      ctx.addIssue({
        code: "custom",
        path,
        message: docker
          ? 'Invalid step: docker operations take engine requests ("engine"), not programs'
          : 'Invalid step: engine requests ("engine") need target_types: [docker]',
      });
    } else if (isEngineStep(step)) checkEngineStep(step, file, path, ctx);
    else checkStep(step, file.parameters, path, ctx);
  }
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

function checkEngineStep(
  step: EngineStepSpec,
  file: { parameters: Record<string, ParamSpec>; mutates: boolean; capability: string },
  path: (string | number)[],
  ctx: z.RefinementCtx,
): void {
  const at = (key: string, message: string) =>
    ctx.addIssue({ code: "custom", path: [...path, key], message });
  const isCheck = path[0] === "check";
  checkElement(step.container, file.parameters, undefined, (m) => at("container", m));
  if (step.engine !== "container_inspect") {
    if (isCheck) {
      at("engine", "Invalid check: expected container_inspect (a check changes nothing)");
    } else if (!file.mutates) {
      at(
        "engine",
        `Invalid engine request ${step.engine}: it changes a container, so the ` +
          "operation must declare mutates: true",
      );
    } else if (file.capability !== "container:control" && file.capability !== "container:admin") {
      at(
        "engine",
        `Invalid engine request ${step.engine}: it needs capability ` +
          `container:control or container:admin, found ${file.capability}`,
      );
    }
  }
  if (step.timeout_s !== undefined) {
    if (step.engine !== "container_stop" && step.engine !== "container_restart") {
      at("timeout_s", "Invalid timeout_s: only container_stop and container_restart take one");
    } else if (typeof step.timeout_s === "string") {
      const name = /^\{\{([a-z][a-z0-9_]{0,62})\}\}$/.exec(step.timeout_s)?.[1];
      const param = name === undefined ? undefined : file.parameters[name];
      if (param?.type !== "integer" || (param.optional && !hasDefault(param))) {
        at(
          "timeout_s",
          'Invalid timeout_s: expected whole seconds or "{{param}}" naming a ' +
            "required integer parameter",
        );
      }
    }
  }
  if (step.signal !== undefined) {
    if (step.engine !== "container_kill") {
      at("signal", "Invalid signal: only container_kill takes one");
    } else if (!step.signal.includes("{{")) {
      if (!(ENGINE_SIGNALS as readonly string[]).includes(step.signal)) {
        at(
          "signal",
          `Invalid signal ${JSON.stringify(step.signal)}: expected one of ${
            ENGINE_SIGNALS.join(", ")
          }`,
        );
      }
    } else checkElement(step.signal, file.parameters, undefined, (m) => at("signal", m));
  }
}
