/**
 * file_write templates: a directory of `*.yaml` files (`--templates DIR`,
 * `TAILOPS_TEMPLATES`), one named template each, with typed variables (the
 * parameter types of operation files) and a body, inline or from one file
 * beside it. A variable of type `secret` is not given by the caller: its
 * value comes from a secret reference (`${ENV}` or `file:/path`), resolved at
 * start like the registry's secrets and redacted wherever output leaves.
 *
 * The body's only syntax is `{{variable}}`: no includes, no expressions, no
 * escapes. A body file must be a regular file directly in the directory (no
 * symlink, no path); every problem of every file is reported at
 * `file:line:column`.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { paramSchema } from "./operations_schema.ts";
import { describeReadError } from "./read_error.ts";
import { type Secret, secretRefSchema } from "./secret.ts";
import { loadPositionParser, parseConfig } from "./yaml_source.ts";

/** Templates read at most from one directory. */
export const MAX_TEMPLATE_FILES = 256;

/** Largest template body, in bytes (file_write's own limit). */
export const MAX_TEMPLATE_BYTES = 1024 * 1024;

/**
 * Shortest secret a template may hold: shorter values cannot be found again
 * reliably in their encoded forms (base64, hex...) to be redacted.
 */
export const MIN_TEMPLATE_SECRET = 8;

/** `{{name}}`: the body's one piece of syntax. */
export const TEMPLATE_PLACEHOLDER = /\{\{([a-z][a-z0-9_]{0,62})\}\}/g;

const SOURCE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const secretVariable = z.strictObject({
  type: z.literal("secret"),
  description: z.string().max(500).default(""),
  /** `${ENV_VAR}` or `file:/absolute/path`. */
  from: secretRefSchema,
});

/** One template variable: a parameter type, or a secret filled from a reference. */
export const variableSchema = z.discriminatedUnion("type", [
  ...paramSchema.options,
  secretVariable,
], {
  error: (issue) =>
    issue.code === "invalid_union"
      ? 'Invalid variable type: expected "string", "integer", "boolean", "path", "unit", "container", "package" or "secret"'
      : undefined,
});

/** A variable declaration. */
export type VariableSpec = z.infer<typeof variableSchema>;

/** A template file. */
export const templateFileSchema = z.strictObject({
  version: z.literal(1, { error: "Invalid version: expected 1" }),
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, {
    error: "Invalid name: expected lowercase letters, digits, _ and -, 1 to 63 characters",
  }),
  description: z.string().min(1).max(1000),
  variables: z.record(
    z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, {
      error: "Invalid variable name: expected snake_case starting with a letter",
    }),
    variableSchema,
  ).default({}),
  /** The body inline. */
  body: z.string().max(MAX_TEMPLATE_BYTES).optional(),
  /** Or a file directly in the templates directory holding it. */
  source: z.string().regex(SOURCE, {
    error: "Invalid source: expected a file name in the templates directory (no path, no ..)",
  }).optional(),
}).refine((t) => (t.body === undefined) !== (t.source === undefined), {
  error: 'Invalid template: expected exactly one of "body" or "source"',
});

/** A validated template file. */
export type TemplateFile = z.infer<typeof templateFileSchema>;

/** A loaded template: its declaration and its body text. */
export interface Template {
  readonly name: string;
  readonly description: string;
  /** Where it came from, for messages. */
  readonly file: string;
  readonly variables: Readonly<Record<string, VariableSpec>>;
  readonly body: string;
}

/**
 * The secrets a template holds, by variable name.
 *
 * @param template The template.
 * @returns Variable name → secret.
 */
export function templateSecrets(template: Template): [string, Secret][] {
  return Object.entries(template.variables).flatMap(([name, v]) =>
    v.type === "secret" ? [[name, v.from] as [string, Secret]] : []
  );
}

function bodyProblems(body: string, variables: Record<string, VariableSpec>): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  // Every "{{" must open a declared {{name}}: nothing else is syntax, so nothing else can hide.
  const exact = /\{\{([a-z][a-z0-9_]{0,62})\}\}/y;
  for (let at = body.indexOf("{{"); at !== -1; at = body.indexOf("{{", at + 2)) {
    exact.lastIndex = at;
    const match = exact.exec(body);
    if (!match) {
      problems.push(
        `Invalid template syntax ${JSON.stringify(body.slice(at, at + 40))}: expected ` +
          "{{variable}} (templates have no includes, expressions or other syntax)",
      );
    } else if (!(match[1] in variables)) {
      problems.push(`Unknown variable ${JSON.stringify(match[1])} in the body`);
    } else used.add(match[1]);
  }
  for (const name of Object.keys(variables)) {
    if (!used.has(name)) {
      problems.push(`Variable ${JSON.stringify(name)} is never used in the body`);
    }
  }
  return problems;
}

/** Reads a body file: a regular file directly in `dir`, not a symlink, UTF-8, bounded. */
async function readSource(dir: string, source: string): Promise<string> {
  const path = `${dir}/${source}`;
  const info = await Deno.lstat(path);
  if (info.isSymlink) throw new Error("it is a symbolic link (refused, not followed)");
  if (!info.isFile) throw new Error("expected a regular file");
  // A second name could be a hard link made to a file elsewhere: a body has one name.
  if ((info.nlink ?? 1) > 1) throw new Error("it has other hard links (refused)");
  const [realDir, real] = await Promise.all([Deno.realPath(dir), Deno.realPath(path)]);
  if (real !== `${realDir === "/" ? "" : realDir}/${source}`) {
    throw new Error("it lies outside the templates directory");
  }
  const bytes = await Deno.readFile(path);
  if (bytes.length > MAX_TEMPLATE_BYTES) {
    throw new Error(`expected at most ${MAX_TEMPLATE_BYTES} bytes, found ${bytes.length}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new Error("expected UTF-8 text");
  }
}

/**
 * Loads every template of a directory, and resolves their secrets when asked.
 *
 * Needs `read` on the directory (and secret files), `env` for `${ENV}` secrets.
 *
 * @param dir The directory.
 * @param options `resolveSecrets` (default true): read the secret references now.
 * @returns The templates, in file name order.
 * @throws {ConfigError} Listing every problem of every file.
 */
export async function loadTemplates(
  dir: string,
  options: { resolveSecrets?: boolean } = {},
): Promise<Template[]> {
  // Only with an operator directory: its problems are gathered across files
  // and placed by line, so the parser that knows positions is loaded up front.
  await loadPositionParser();
  const base = dir.replace(/(.)\/$/, "$1");
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(base)) {
      if ((entry.isFile || entry.isSymlink) && /\.ya?ml$/.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read the templates directory ${JSON.stringify(dir)}: ${
        describeReadError(error)
      }`,
    }]);
  }
  if (names.length > MAX_TEMPLATE_FILES) {
    throw new ConfigError([{
      path: "",
      message: `Too many template files in ${
        JSON.stringify(dir)
      }: expected at most ${MAX_TEMPLATE_FILES}, found ${names.length}`,
    }]);
  }
  names.sort();
  const problems: ConfigProblem[] = [];
  const loaded: Template[] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const file = `${base}/${name}`;
    let parsed;
    try {
      parsed = parseConfig(await Deno.readTextFile(file), file, templateFileSchema);
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems);
      else problems.push({ path: "", message: `Cannot read ${file}: ${describeReadError(error)}` });
      continue;
    }
    const { config: spec, source } = parsed;
    const at = (path: (string | number)[], message: string) =>
      problems.push({ path: path.join("."), position: source.positionOf(path), message });
    let body = spec.body;
    if (spec.source !== undefined) {
      try {
        body = await readSource(base, spec.source);
      } catch (error) {
        at(
          ["source"],
          `Cannot use source ${JSON.stringify(spec.source)}: ${
            error instanceof Error && !(error instanceof Deno.errors.NotFound)
              ? error.message
              : "it does not exist in the templates directory"
          }`,
        );
        continue;
      }
    }
    const before = problems.length;
    for (const message of bodyProblems(body!, spec.variables)) {
      at([spec.source === undefined ? "body" : "source"], message);
    }
    const first = seen.get(spec.name);
    if (first !== undefined) {
      at(["name"], `Template ${JSON.stringify(spec.name)} is already declared in ${first}`);
    } else seen.set(spec.name, file);
    if (problems.length > before) continue;
    for (const [variable, secret] of Object.entries(spec.variables)) {
      if (secret.type !== "secret" || options.resolveSecrets === false) continue;
      try {
        await secret.from.resolve();
      } catch (error) {
        at(["variables", variable, "from"], (error as Error).message);
        continue;
      }
      const value = secret.from.reveal();
      // The value is never echoed: only its length, and only when it is too short.
      if (value.length < MIN_TEMPLATE_SECRET || value.includes("\0")) {
        at(
          ["variables", variable, "from"],
          `Invalid secret for ${JSON.stringify(variable)}: expected at least ` +
            `${MIN_TEMPLATE_SECRET} characters and no NUL (shorter values cannot be redacted reliably)`,
        );
      }
    }
    loaded.push({
      name: spec.name,
      description: spec.description,
      file,
      variables: spec.variables,
      body: body!,
    });
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}
