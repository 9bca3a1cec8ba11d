/**
 * file_write templates: a directory of `*.yaml` files (`--templates DIR`,
 * `TAILOPS_TEMPLATES`), one named template each, with typed variables (the
 * parameter types of operation files) and a body, inline or from one file
 * beside it. A variable of type `secret` is not given by the caller: its
 * value comes from a secret reference (`${ENV}` or `file:/path`), resolved at
 * start like the registry's secrets and redacted wherever output leaves.
 *
 * The body's only syntax is `{{variable}}` and the escape `{{"{{"}}` for a
 * literal `{{` (Go templates' and Jinja's own spelling): no includes, no
 * expressions. A body file must be a regular file directly in the directory
 * (no symlink, no path); every problem of every file is reported at
 * `file:line:column`, a malformed placeholder at its own line and column (in
 * the body file, or in an inline `|` block body).
 *
 * @module
 */
import { z } from "zod";
import { ConfigError, type ConfigProblem, type SourcePosition } from "./errors.ts";
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

/** What a body writes for a literal `{{`. */
export const TEMPLATE_LITERAL_OPEN = '{{"{{"}}';

/**
 * The body's syntax, one token at a time from the left: the escape `{{"{{"}}`
 * (a literal `{{`), or `{{name}}` (group 1). Filling and checking both read
 * bodies with it, so they cannot disagree on what is syntax.
 */
export const TEMPLATE_TOKEN = /\{\{"\{\{"\}\}|\{\{([a-z][a-z0-9_]{0,62})\}\}/g;

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

/** What every template file declares: a `--templates` file, or a stack's env template. */
const templateShape = {
  version: z.literal(1, { error: "Invalid version: expected 1" }),
  description: z.string().min(1).max(1000),
  variables: z.record(
    z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, {
      error: "Invalid variable name: expected snake_case starting with a letter",
    }),
    variableSchema,
  ).default({}),
  /** The body inline. */
  body: z.string().max(MAX_TEMPLATE_BYTES).optional(),
  /** Or a file directly in the same directory holding it. */
  source: z.string().regex(SOURCE, {
    error: "Invalid source: expected a file name in the same directory (no path, no ..)",
  }).optional(),
};

const oneBody = (t: { body?: string; source?: string }) =>
  (t.body === undefined) !== (t.source === undefined);
const ONE_BODY = { error: 'Invalid template: expected exactly one of "body" or "source"' };

/** A template file of the `--templates` directory. */
export const templateFileSchema = z.strictObject({
  ...templateShape,
  name: z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, {
    error: "Invalid name: expected lowercase letters, digits, _ and -, 1 to 63 characters",
  }),
}).refine(oneBody, ONE_BODY);

/**
 * A stack's env template (`NAME.tailops-template.yaml` in the stack's
 * directory): the same format without `name`, since its file name says
 * which file it renders to.
 */
export const stackTemplateFileSchema = z.strictObject(templateShape).refine(oneBody, ONE_BODY);

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
  /** The file beside it the body was read from, if any. */
  readonly source?: string;
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

/** A problem in a body, at a character offset when it has one. */
interface BodyProblem {
  readonly offset?: number;
  readonly message: string;
}

function bodyProblems(body: string, variables: Record<string, VariableSpec>): BodyProblem[] {
  const problems: BodyProblem[] = [];
  const used = new Set<string>();
  // Every "{{" must start a token: nothing else is syntax, so nothing else can hide.
  const exact = new RegExp(TEMPLATE_TOKEN.source, "y");
  for (let at = body.indexOf("{{"); at !== -1;) {
    exact.lastIndex = at;
    const match = exact.exec(body);
    if (!match) {
      problems.push({
        offset: at,
        message:
          `Invalid template syntax ${
            JSON.stringify(body.slice(at, at + 40).split("\n")[0])
          }: expected ` +
          `{{variable}}, or ${TEMPLATE_LITERAL_OPEN} for a literal "{{" (templates have no ` +
          "includes, expressions or other syntax)",
      });
    } else if (match[1] !== undefined && !(match[1] in variables)) {
      problems.push({
        offset: at,
        message: `Unknown variable ${JSON.stringify(match[1])} in the body`,
      });
    } else if (match[1] !== undefined) used.add(match[1]);
    // Past the token, so the "{{" inside an escape is not read again; past a bad one's "}}" (or
    // its line), so one mistake is one problem.
    at = body.indexOf("{{", match ? at + match[0].length : badTokenEnd(body, at));
  }
  for (const name of Object.keys(variables)) {
    if (!used.has(name)) {
      problems.push({ message: `Variable ${JSON.stringify(name)} is never used in the body` });
    }
  }
  return problems;
}

/** Where reading goes on after a malformed token at `at`: after its `}}`, else its line. */
function badTokenEnd(body: string, at: number): number {
  const close = body.indexOf("}}", at + 2);
  const line = body.indexOf("\n", at);
  if (close !== -1 && (line === -1 || close < line)) return close + 2;
  return line === -1 ? body.length : line;
}

/** The 1-based line and column of a character offset in a text. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - (before.lastIndexOf("\n") + 1) + 1 };
}

/**
 * Where a body offset is in the template file, for an inline body written as
 * a `|` block (each body line is a file line, after the block's indentation);
 * `undefined` for other styles (quoted or folded text does not map), or when
 * the file's text there is not what the body holds.
 */
function inlinePosition(
  fileText: string,
  header: { line: number; column: number } | undefined,
  body: string,
  offset: number,
): { line: number; column: number } | undefined {
  if (!header) return undefined;
  const lines = fileText.split("\n");
  if (!/^\|[-+0-9]*\s*(#.*)?$/.test(lines[header.line - 1]?.slice(header.column - 1) ?? "")) {
    return undefined;
  }
  const content = lines.slice(header.line);
  const indent = content.find((l) => l.trim() !== "")?.match(/^ */)?.[0].length ?? 0;
  const at = lineColumn(body, offset);
  const line = header.line + at.line;
  const column = indent + at.column;
  const bodyLine = body.split("\n")[at.line - 1];
  return lines[line - 1]?.slice(column - 1) === bodyLine.slice(at.column - 1)
    ? { line, column }
    : undefined;
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

/** One template file read: the template (when it parses), its problems, and where a key is. */
export interface TemplateFileRead {
  /** The template; absent when the file does not parse or its body cannot be read. */
  readonly template?: Template;
  /** Every problem found, at `file:line:column`. */
  readonly problems: readonly ConfigProblem[];
  /** Where a key path of the file is (for problems found later, by the caller). */
  readonly positionOf: (path: (string | number)[]) => SourcePosition | undefined;
}

/**
 * Reads and checks one template file: its declaration, its body (inline or
 * from a `source` file directly in `dir`), the body's syntax against the
 * declared variables, and its secrets (resolved unless told not to).
 *
 * Needs `read` on the directory (and secret files), `env` for `${ENV}` secrets.
 *
 * @param dir The directory holding it.
 * @param fileName Its file name in `dir`.
 * @param options `as`: the template's name when the file has none (a stack's env template:
 *   the file it renders to); `resolveSecrets` (default true).
 * @returns What was read.
 */
export async function loadTemplateFile(
  dir: string,
  fileName: string,
  options: { as?: string; resolveSecrets?: boolean } = {},
): Promise<TemplateFileRead> {
  // Only with templates configured: their problems are gathered and placed by
  // line, so the parser that knows positions is loaded up front.
  await loadPositionParser();
  const file = `${dir}/${fileName}`;
  const problems: ConfigProblem[] = [];
  const nowhere = { problems, positionOf: () => undefined };
  let parsed;
  let text: string;
  try {
    text = await Deno.readTextFile(file);
    parsed = options.as === undefined
      ? parseConfig(text, file, templateFileSchema)
      : parseConfig(text, file, stackTemplateFileSchema);
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    else problems.push({ path: "", message: `Cannot read ${file}: ${describeReadError(error)}` });
    return nowhere;
  }
  const { config: spec, source } = parsed;
  const positionOf = (path: (string | number)[]) => source.positionOf(path);
  const at = (path: (string | number)[], message: string) =>
    problems.push({ path: path.join("."), position: positionOf(path), message });
  let body = spec.body;
  if (spec.source !== undefined) {
    try {
      body = await readSource(dir, spec.source);
    } catch (error) {
      at(
        ["source"],
        `Cannot use source ${JSON.stringify(spec.source)}: ${
          error instanceof Error && !(error instanceof Deno.errors.NotFound)
            ? error.message
            : "it does not exist in the same directory"
        }`,
      );
      return { problems, positionOf };
    }
  }
  for (const { offset, message } of bodyProblems(body!, spec.variables)) {
    const key = spec.source === undefined ? "body" : "source";
    // A malformed or unknown placeholder is shown where it is: in the body file, or the line
    // of an inline `|` block; else at the key.
    const inBody = offset === undefined
      ? undefined
      : spec.source !== undefined
      ? { file: `${dir}/${spec.source}`, ...lineColumn(body!, offset) }
      : (() => {
        const where = inlinePosition(text, positionOf(["body"]), body!, offset);
        return where && { file, ...where };
      })();
    problems.push({ path: key, position: inBody ?? positionOf([key]), message });
  }
  if (problems.length === 0) {
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
  }
  const name = "name" in spec ? (spec as TemplateFile).name : options.as!;
  return {
    template: {
      name,
      description: spec.description,
      file,
      variables: spec.variables,
      body: body!,
      ...(spec.source === undefined ? {} : { source: spec.source }),
    },
    problems,
    positionOf,
  };
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
    const file = await loadTemplateFile(base, name, options);
    problems.push(...file.problems);
    if (!file.template) continue;
    const first = seen.get(file.template.name);
    if (first !== undefined) {
      problems.push({
        path: "name",
        position: file.positionOf(["name"]),
        message: `Template ${JSON.stringify(file.template.name)} is already declared in ${first}`,
      });
      continue;
    }
    seen.set(file.template.name, file.template.file);
    if (file.problems.length === 0) loaded.push(file.template);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}
