/**
 * Operator-defined operations: each validated operation file
 * (`src/config/operations_schema.ts`) becomes one declared operation, with
 * the same gate, audit, approvals, dry run and fan-out as a built-in one.
 *
 * Parameters fill argv elements as data: a step's program is the literal the
 * operator wrote, every other element is text with `{{param}}` placeholders,
 * and the plan is an argv array (quoted by the one quoting function over SSH,
 * run without a shell locally).
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigProblem } from "../config/errors.ts";
import type { LoadedOperation } from "../config/operations_load.ts";
import {
  type ArgvItem,
  hasDefault,
  isEngineStep,
  type OperationFile,
  type ParamSpec,
  PLACEHOLDER,
  type StepSpec,
} from "../config/operations_schema.ts";
import { compilePattern } from "../config/pattern.ts";
import type { Target } from "../config/targets_schema.ts";
import type { ExecPlan } from "../exec/plan.ts";
import { containerRefSchema } from "./_docker_schemas.ts";
import {
  engineOutput,
  engineSequence,
  parseEngineSteps,
  renderEngineSteps,
} from "./_operator_engine.ts";
import { execCommands, firstErrorLine, throwCommonFailure } from "./_host_result.ts";
import { hostPathSchema, packageNameSchema, unitNameSchema } from "./_host_schemas.ts";
import { rootsFor } from "./file.ts";
import {
  defineOperation,
  type Operation,
  OperationError,
  targetLimits,
  usesSudo,
} from "./operation.ts";

type Args = Record<string, string | number | boolean | undefined>;

// Control characters (newline, NUL, escape...) are never data an argv element needs.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function stringSchema(name: string, param: Extract<ParamSpec, { type: "string" }>) {
  const base = z.string().max(param.max_length, {
    error: `Invalid ${name}: expected at most ${param.max_length} characters`,
  }).refine((v) => !CONTROL.test(v), {
    error: `Invalid ${name}: expected no control characters (newline, NUL, escape...)`,
  }).refine((v) => !v.startsWith("-"), {
    error: `Invalid ${name}: expected a value not starting with "-" (it would read as an option)`,
  });
  if (param.enum) {
    const values = param.enum;
    return base.refine((v) => values.includes(v), {
      error: `Invalid ${name}: expected one of ${values.map((v) => JSON.stringify(v)).join(", ")}`,
    });
  }
  const matches = compilePattern(param.pattern!);
  return base.refine(matches, {
    error: `Invalid ${name}: expected a value matching ${JSON.stringify(param.pattern)}`,
  });
}

/**
 * The zod schema of one typed parameter (operation files, file_write templates).
 *
 * @param name The parameter's name, for messages.
 * @param param Its declaration.
 * @returns The schema (optional or defaulted as declared).
 */
export function paramZod(name: string, param: ParamSpec): z.ZodType {
  let schema: z.ZodType;
  switch (param.type) {
    case "string":
      schema = stringSchema(name, param);
      break;
    case "integer":
      schema = z.int().min(param.min).max(param.max);
      break;
    case "boolean":
      schema = z.boolean();
      break;
    case "path":
      schema = hostPathSchema;
      break;
    case "unit":
      schema = unitNameSchema;
      break;
    case "container":
      schema = containerRefSchema;
      break;
    case "package":
      schema = packageNameSchema;
      break;
  }
  if (param.description) schema = schema.describe(param.description);
  if ("default" in param && param.default !== undefined) {
    return (schema as z.ZodType<unknown>).default(param.default as never);
  }
  return param.optional ? schema.optional() : schema;
}

/** Fills one element's placeholders with the values, as text. */
function fill(text: string, args: Args): string {
  return text.replace(PLACEHOLDER, (_, name: string) => String(args[name]));
}

/**
 * A step's argv for validated arguments: the literal program, then each
 * element with its placeholders filled; a `when` group only when its
 * parameter is true (boolean) or was given (optional).
 *
 * @param step The step.
 * @param args Validated arguments.
 * @returns The argv.
 */
export function stepArgv(step: StepSpec, args: Args): string[] {
  const out = [step.program];
  for (const item of step.args as ArgvItem[]) {
    if (typeof item === "string") out.push(fill(item, args));
    else {
      const value = args[item.when];
      if (value !== undefined && value !== false) out.push(...item.argv.map((t) => fill(t, args)));
    }
  }
  return out;
}

function planOf(spec: OperationFile, steps: readonly StepSpec[], args: Args, target: Target) {
  for (const [name, param] of Object.entries(spec.parameters)) {
    const value = args[name];
    if (param.type === "path" && typeof value === "string") rootsFor(value, target);
  }
  const limits = targetLimits(target);
  const sudo = usesSudo(target, spec.name);
  return {
    kind: "exec",
    timeoutMs: Math.min(limits.timeoutMs, spec.timeout_ms ?? limits.timeoutMs),
    outputCapBytes: Math.min(limits.outputCapBytes, spec.output_cap_bytes ?? Infinity),
    commands: steps.map((step) => stepArgv(step, args)),
    mode: "all",
    sudo: false,
    sudoEach: steps.map((step) => step.sudo && sudo),
    stopOnFailure: true,
  } satisfies ExecPlan;
}

const stepOutput = z.object({
  argv: z.array(z.string()),
  exit_code: z.number().nullable(),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
});

const operatorOutput = z.object({
  steps: z.array(stepOutput),
  result: z.union([z.string(), z.array(z.string()), z.record(z.string(), z.string()), z.unknown()]),
});

type OperatorOutput = z.infer<typeof operatorOutput>;

function parseLast(stdout: string, mode: OperationFile["parse"], program: string): unknown {
  switch (mode) {
    case "text":
      return stdout;
    case "lines":
      return stdout.split("\n").map((l) => l.trimEnd()).filter((l) => l !== "");
    case "json":
      try {
        return JSON.parse(stdout);
      } catch {
        throw new OperationError(
          "bad_output",
          `Cannot read the output of "${program}": expected JSON`,
        );
      }
    case "key_value":
      return Object.fromEntries(
        stdout.split("\n").map((l) => /^\s*([^=\s][^=]*?)\s*=\s*(.*?)\s*$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null).map((m) => [m[1], m[2]]),
      );
  }
}

function inputOf(spec: OperationFile) {
  return z.strictObject(
    Object.fromEntries(
      Object.entries(spec.parameters).map(([name, param]) => [name, paramZod(name, param)]),
    ),
  );
}

function paramReachOf(spec: OperationFile) {
  return Object.fromEntries(
    Object.entries(spec.parameters)
      .filter(([, p]) => p.optional && !hasDefault(p))
      .map(([name, p]) => [name, { absent: p.description || `${name} left out` }]),
  );
}

function commonOf(loaded: LoadedOperation) {
  const spec = loaded.spec;
  return {
    name: spec.name,
    title: spec.title,
    description: `${spec.description} (operator-defined in ${loaded.file.split("/").at(-1)})`,
    input: inputOf(spec),
    capability: spec.capability,
    targetTypes: spec.target_types,
    mutates: spec.mutates,
    destructive: spec.destructive,
    paramReach: paramReachOf(spec),
  };
}

/** An operation whose steps are engine requests on docker targets. */
function engineOperation(loaded: LoadedOperation): Operation {
  const spec = loaded.spec;
  const steps = spec.steps.filter(isEngineStep);
  const check = spec.check && isEngineStep(spec.check) ? spec.check : undefined;
  return defineOperation({
    ...commonOf(loaded),
    output: engineOutput,
    programs: [],
    plan: (args, target) => engineSequence(steps, args as Args, target),
    ...(check
      ? {
        checkPlan: (args, target) => engineSequence([check], args as Args, target),
        // The inspect answer, redacted by container_inspect's own parser.
        describeCheck: (outcome, args) => {
          if (!outcome.ok) return { error: outcome.error };
          try {
            return { ...parseEngineSteps([check], outcome.result, args as Args) };
          } catch (error) {
            const e = error as OperationError;
            return { error: { code: e.code ?? "bad_output", message: e.message } };
          }
        },
      }
      : {}),
    parse: (result, args) => parseEngineSteps(steps, result, args as Args),
    render: (out) => renderEngineSteps(spec, out),
  });
}

/**
 * Turns one validated operation file into an operation.
 *
 * @param loaded The file.
 * @returns The frozen operation.
 */
export function operatorOperation(loaded: LoadedOperation): Operation {
  const spec = loaded.spec;
  if (spec.target_types.includes("docker")) return engineOperation(loaded);
  const steps = spec.steps.filter((step): step is StepSpec => !isEngineStep(step));
  const allSteps = [...steps, ...(spec.check && !isEngineStep(spec.check) ? [spec.check] : [])];
  const check = spec.check && !isEngineStep(spec.check) ? spec.check : undefined;
  return defineOperation({
    ...commonOf(loaded),
    output: operatorOutput,
    streamsOutput: spec.stream_output,
    programs: [...new Set(allSteps.map((s) => s.program))],
    plan: (args, target) => planOf(spec, steps, args as Args, target),
    ...(check ? { checkPlan: (args, target) => planOf(spec, [check], args as Args, target) } : {}),
    parse: (result): OperatorOutput => {
      const commands = execCommands(result);
      commands.forEach((cmd, i) => {
        throwCommonFailure(cmd, cmd.argv[0]);
        if (cmd.exitCode !== 0) {
          throw new OperationError(
            "step_failed",
            `Step ${i + 1} of ${spec.steps.length} (${
              cmd.argv[0]
            }) exited with code ${cmd.exitCode}: ${firstErrorLine(cmd)}`,
          );
        }
      });
      const last = commands.at(-1)!;
      return {
        steps: commands.map((cmd) => ({
          argv: [...cmd.argv],
          exit_code: cmd.exitCode,
          stdout: cmd.stdout,
          stderr: cmd.stderr,
          truncated: cmd.truncated,
        })),
        result: parseLast(last.stdout, spec.parse, last.argv[0]),
      };
    },
    render: (out) => {
      const text = out.steps.at(-1)?.stdout.trim();
      return text ? text : `${spec.name}: done`;
    },
  });
}

/**
 * The catalog with the operator's operations appended. A name that a built-in
 * operation already has is an error at the file's `name`, and so is a
 * default its own parameter type refuses.
 *
 * @param builtins The built-in catalog.
 * @param loaded Validated operation files.
 * @param reserved Parameter names the call envelope uses (`target`, `dry_run`...).
 * @returns The frozen catalog.
 * @throws {ConfigError} Naming every collision.
 */
export function withOperatorOperations(
  builtins: readonly Operation[],
  loaded: readonly LoadedOperation[],
  reserved: readonly string[] = [],
): readonly Operation[] {
  const problems: ConfigProblem[] = loaded
    .filter((op) => builtins.some((b) => b.name === op.spec.name))
    .map((op) => ({
      path: "name",
      position: op.locate(["name"]),
      message: `Operation ${JSON.stringify(op.spec.name)} collides with a built-in operation`,
    }));
  for (const op of loaded) {
    for (const name of Object.keys(op.spec.parameters).filter((n) => reserved.includes(n))) {
      problems.push({
        path: `parameters.${name}`,
        position: op.locate(["parameters", name]),
        message: `Parameter ${JSON.stringify(name)} is reserved by the call envelope: ` +
          `expected another name (reserved: ${reserved.join(", ")})`,
      });
    }
  }
  for (const op of loaded) {
    for (const [name, param] of Object.entries(op.spec.parameters)) {
      if (!hasDefault(param)) continue;
      const check = paramZod(name, { ...param, default: undefined } as ParamSpec)
        .safeParse((param as { default: unknown }).default);
      if (!check.success) {
        problems.push({
          path: `parameters.${name}.default`,
          position: op.locate(["parameters", name, "default"]),
          message: `Invalid default of ${JSON.stringify(name)}: ${check.error.issues[0].message}`,
        });
      }
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze([...builtins, ...loaded.map(operatorOperation)]);
}

/**
 * Checks that the gateway process may run every program its local targets
 * need. A worker can never exceed its parent's permissions, so a program an
 * operation file names must also be in the permission set the gateway was
 * started with (`deno.json` → `permissions.gateway.run`); saying so at start
 * beats a worker that cannot spawn.
 *
 * @param catalog The operations.
 * @param programs Program → absolute path (`null` when not installed), as the local worker gets them.
 * @throws {ConfigError} Naming each program and the operations that need it.
 */
export function checkLocalRunGrant(
  catalog: readonly Operation[],
  programs: Readonly<Record<string, string | null>>,
): void {
  const problems: ConfigProblem[] = [];
  for (const [name, path] of Object.entries(programs)) {
    if (path === null) continue;
    if (Deno.permissions.querySync({ name: "run", command: path }).state === "granted") continue;
    const users = catalog.filter((op) => op.programs.includes(name)).map((op) => op.name);
    problems.push({
      path: "",
      message:
        `Operation${users.length > 1 ? "s" : ""} ${users.join(", ")} run${
          users.length > 1 ? "" : "s"
        } ${path} on local targets, but the gateway's run permission does not include it: ` +
        "start it with `tailops launch serve ...` (which grants the programs the configuration " +
        `names), or add ${JSON.stringify(path)} to deno.json's gateway permission set`,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
