/**
 * Parses a YAML document against a zod schema and reports every problem at
 * its `file:line:column`.
 *
 * @module
 */
// @ts-types="@types/js-yaml"
import { load } from "js-yaml";
import type * as Yaml from "yaml";
import { YAML12_CORE_SCHEMA } from "./_yaml_core_schema.ts";
import type { z } from "zod";
import { ConfigError, type ConfigProblem, type SourcePosition } from "./errors.ts";

/**
 * The `yaml` package, once loaded. It is not loaded at start-up (its CommonJS
 * modules and Deno's Node module layer under them cost start-up time and
 * memory): the fast parser reads well-formed files, and `yaml` is needed only
 * to place a problem at `file:line:column` or to read text the fast parser
 * refuses.
 */
let yaml: typeof Yaml | undefined;
/**
 * Positions asked for before `yaml` was loaded (see {@linkcode withPositions}).
 * A count, not a flag: steps running at once can only cause a needless rerun.
 */
let positionsWanted = 0;

/**
 * Loads the parser that knows source positions. {@linkcode withPositions}
 * calls it when a step needs it; code that parses synchronously without it
 * (tests) awaits it first.
 *
 * @returns The `yaml` package (compose files are read with it directly).
 */
export async function loadPositionParser(): Promise<typeof Yaml> {
  return yaml ??= await import("yaml");
}

/** Thrown by a parse that needs `yaml` before it is loaded; {@linkcode withPositions} handles it. */
export class PositionParserNeeded extends Error {
  constructor() {
    super(
      "Internal error: this YAML needs the full parser, which is not loaded (run the step through withPositions)",
    );
    this.name = "PositionParserNeeded";
  }
}

/**
 * Runs a configuration step (parse, validate, compile) that may point into
 * YAML sources. When it fails and needed `yaml`, which is loaded only then —
 * text the fast parser refused, or a problem whose `file:line:column` was
 * asked for — the step runs once more with it, so its errors read as they
 * would with `yaml` loaded from the start. Steps must be free of side effects
 * beyond reads.
 *
 * @param step The step.
 * @returns What the step returns.
 * @throws Whatever the step throws (the second time, when it ran twice).
 */
export async function withPositions<T>(step: () => T | Promise<T>): Promise<T> {
  if (yaml !== undefined) return await step();
  const wanted = positionsWanted;
  try {
    return await step();
  } catch (error) {
    if (!(error instanceof PositionParserNeeded) && positionsWanted === wanted) throw error;
    await loadPositionParser();
    return await step();
  }
}

/** Biggest configuration file accepted, in bytes. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

type Path = readonly PropertyKey[];

/**
 * Formats a key path the way people write it: `targets[2].connection.port`.
 *
 * @param path Keys from the root.
 * @returns The path as text; empty for the root.
 */
export function formatPath(path: Path): string {
  return path.reduce<string>(
    (
      out,
      key,
    ) => (typeof key === "number" ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)),
    "",
  );
}

/** A parsed YAML document that can tell where a key path is. */
export interface YamlSource {
  /** The plain value of the document. */
  value: unknown;
  /** The position of the node at `path`, or of its nearest existing parent. */
  positionOf(path: Path, key?: string): SourcePosition | undefined;
}

/**
 * Parses YAML text, refusing duplicate keys and alias bombs.
 *
 * Two parsers read the same YAML 1.2 core schema: `js-yaml` 4 builds the
 * plain value directly as it reads (about ten times faster than `yaml` and
 * without its syntax tree; js-yaml 5 first lists every parse event of the
 * whole document, which for 10,000 targets grew the heap by ~80 MB that V8
 * kept), and `yaml`, which keeps source positions, parses the text again only
 * when a position is asked for (a problem to report) or when the fast parser
 * refuses the text. The fast parser takes no anchors (so no aliases), no
 * explicit `!!` tags and no collections as mapping keys (where the two
 * differ); such text, and any text it finds invalid, goes to `yaml` alone,
 * so errors always read the same.
 *
 * @param text The document.
 * @param file Name used in error positions.
 * @returns The value and a position finder.
 * @throws {ConfigError} When the text is not valid YAML or too large.
 */
export function parseYaml(text: string, file: string): YamlSource {
  if (text.length > MAX_CONFIG_BYTES) {
    throw new ConfigError([{
      path: "",
      message: `File too large: expected at most ${MAX_CONFIG_BYTES} bytes, found ${text.length}`,
      position: { file, line: 1, column: 1 },
    }]);
  }
  const fast = readFast(text);
  if (fast === undefined) {
    const slow = parseWithPositions(text, file);
    return { ...slow, value: ownStrings(slow.value) };
  }
  let full: YamlSource | undefined;
  return {
    value: ownStrings(fast.value),
    positionOf: (path, key) => {
      if (yaml === undefined) {
        // No position now; withPositions runs the step again with `yaml`.
        positionsWanted++;
        return undefined;
      }
      return (full ??= parseWithPositions(text, file)).positionOf(path, key);
    },
  };
}

/**
 * Gives every string in a parsed value its own storage, one copy per distinct
 * text (in place: the parsers' values are fresh plain data).
 *
 * A parser's long scalars are V8 slices of the document text, and one slice
 * kept by the loaded configuration keeps the whole text: 10,000 targets kept
 * their 3.7 MB file alive, and as many copies of each repeated user name,
 * key path and host key as targets.
 */
function ownStrings(value: unknown, seen = new Map<string, string>()): unknown {
  if (typeof value === "string") {
    let own = seen.get(value);
    // JSON.parse builds a new string: it shares nothing with the document text.
    if (own === undefined) seen.set(value, own = JSON.parse(JSON.stringify(value)) as string);
    return own;
  }
  if (value === null || typeof value !== "object") return value;
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) record[key] = ownStrings(record[key], seen);
  return value;
}

/**
 * Whether text may hold a mapping key that is a collection: a flow collection
 * before a colon, or an explicit key (`? `). js-yaml 4 names such a key `a,b`
 * where `yaml` names it `[ a, b ]`; a false match only costs speed.
 */
function maybeCollectionKey(text: string): boolean {
  return /[\]}][ \t]*:/.test(text) ||
    (text.includes("?") && /(?:^|[\s[{,])\?(?:[ \t]|$)/m.test(text));
}

/**
 * The value by the fast parser, or `undefined` where only `yaml` may decide
 * (aliases, `!!` tags, and text `js-yaml` refuses: a flow sequence whose `]`
 * is not indented past its key, for one, which `yaml` accepts). The shipped
 * files are all read here: `yaml` then costs nothing at start.
 *
 * @param text The document.
 * @returns The plain value, or `undefined`.
 */
export function readFast(text: string): { value: unknown } | undefined {
  if (text.includes("!!") || maybeCollectionKey(text)) return undefined;
  // js-yaml resolves an alias to the anchored value itself, so a document
  // without anchors has no aliases; one with anchors goes to `yaml`, which
  // caps alias expansion (a reader of the value would walk every alias).
  let anchors: Record<string, unknown> | undefined;
  try {
    // Duplicate keys throw by default.
    const value = load(text, {
      schema: YAML12_CORE_SCHEMA,
      listener(_event, state) {
        anchors ??= (state as unknown as { anchorMap: Record<string, unknown> }).anchorMap;
      },
    });
    return anchors !== undefined && Object.keys(anchors).length > 0 ? undefined : { value };
  } catch {
    return undefined;
  }
}

function parseWithPositions(text: string, file: string): YamlSource {
  if (yaml === undefined) throw new PositionParserNeeded();
  const { isMap, isNode, isScalar, LineCounter, parseDocument } = yaml;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const at = (offset: number): SourcePosition => {
    const { line, col } = lineCounter.linePos(offset);
    return { file, line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((error) => ({
      path: "",
      message: `Invalid YAML: ${
        error.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "")
      }`,
      position: at(error.pos[0]),
    })));
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Invalid YAML: ${(error as Error).message}`,
      position: { file, line: 1, column: 1 },
    }]);
  }
  const positionOf = (path: Path, key?: string): SourcePosition | undefined => {
    let node: unknown = doc.contents;
    for (const segment of path) {
      const next = isNode(node) && "get" in node
        ? (node as { get(k: unknown, keepScalar: boolean): unknown }).get(segment, true)
        : undefined;
      if (!isNode(next)) break;
      node = next;
    }
    if (key !== undefined && isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
      if (pair && isNode(pair.key)) node = pair.key;
    }
    const range = isNode(node) ? (node as Yaml.Node).range : undefined;
    return range ? at(range[0]) : { file, line: 1, column: 1 };
  };
  return { value, positionOf };
}

/** The plain value at a key path, or `undefined` when the path does not exist. */
function valueAt(root: unknown, path: Path): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * Parses YAML text and validates it with a schema, collecting every problem.
 *
 * @param text The document.
 * @param file Name used in error positions.
 * @param schema The zod schema for the whole document.
 * @returns The validated value and its source, for later position look-ups.
 * @throws {ConfigError} When the YAML or the schema check fails.
 */
export function parseConfig<S extends z.ZodType>(
  text: string,
  file: string,
  schema: S,
): { config: z.infer<S>; source: YamlSource } {
  const source = parseYaml(text, file);
  const result = schema.safeParse(source.value ?? {});
  if (result.success) return { config: result.data, source };
  const problems: ConfigProblem[] = result.error.issues.map((issue) => {
    // A refused record key (zod's "invalid_key") is shown at the key, with the key schema's message.
    const badKey = issue.code === "invalid_key" ? String(issue.path.at(-1)) : undefined;
    const key = issue.code === "unrecognized_keys" ? issue.keys[0] : badKey;
    const at = badKey === undefined ? issue.path : issue.path.slice(0, -1);
    const message = issue.code === "invalid_key"
      ? issue.issues[0]?.message ?? issue.message
      : issue.code === "unrecognized_keys"
      ? `Unknown key${issue.keys.length > 1 ? "s" : ""} ${
        issue.keys.map((k) => JSON.stringify(k)).join(", ")
      }: not part of the schema here`
      // zod 4 leaves `input` out of issues, so look the value up in the document.
      : issue.code === "invalid_type" && valueAt(source.value, issue.path) === undefined
      ? `Missing required key ${JSON.stringify(String(issue.path.at(-1)))}`
      : issue.code === "invalid_type"
      // zod's wording ("Invalid input: expected X, received Y") in ours, naming the key.
      ? issue.message.replace(
        /^Invalid input: expected (.+), received (.+)$/,
        (_, expected, found) =>
          `Invalid ${
            JSON.stringify(String(issue.path.at(-1) ?? "document"))
          }: expected ${expected}, found ${found}`,
      )
      : issue.message;
    return { path: formatPath(issue.path), message, position: source.positionOf(at, key) };
  });
  problems.sort((a, b) =>
    (a.position?.line ?? 0) - (b.position?.line ?? 0) ||
    (a.position?.column ?? 0) - (b.position?.column ?? 0)
  );
  throw new ConfigError(problems);
}
