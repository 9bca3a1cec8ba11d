/**
 * Makes a tool's JSON Schemas cheaper to send without changing what the
 * gateway accepts. Every byte of `tools/list` is read by the model in every
 * conversation: 28 tools were 118 KB (~29k tokens) before this.
 *
 * @module
 */

/** A JSON Schema node as zod writes it. */
type Node = Record<string, unknown>;

/** Keys whose value maps names to schemas: the map itself is not a schema. */
const SCHEMA_MAPS = new Set(["properties", "definitions", "$defs", "patternProperties"]);

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Longest input `pattern` listed; longer ones are checked but not spelled out. */
const MAX_LISTED_PATTERN = 48;

function isObject(value: unknown): value is Node {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function walk(schema: unknown, visit: (node: Node) => Node): unknown {
  if (Array.isArray(schema)) return schema.map((child) => walk(child, visit));
  if (!isObject(schema)) return schema;
  const copy: Node = {};
  for (const [key, value] of Object.entries(schema)) {
    copy[key] = SCHEMA_MAPS.has(key) && isObject(value)
      ? Object.fromEntries(Object.entries(value).map(([name, s]) => [name, walk(s, visit)]))
      : walk(value, visit);
  }
  return visit(copy);
}

/**
 * Compacts a tool schema:
 *
 * - `$schema` goes: MCP reads a schema without one in its default dialect,
 *   and nothing our schemas use differs between draft-07 and 2020-12.
 * - Top-level properties named in `unlisted` go (the rarely used envelope
 *   keys, explained once in the guide), and with them the input's
 *   `additionalProperties: false`: the gateway still accepts them and still
 *   refuses any other key, because it validates with the zod schema.
 * - `propertyNames: {type: "string"}` goes: JSON object keys are strings.
 * - In an input schema, a `pattern` longer than 48 characters goes (zod's
 *   date-time regex, image references, host names): the gateway still
 *   checks it and its error says what was expected. The envelope's
 *   `target`, `targets` and `dry_run` are listed by type only. The ±2^53
 *   bounds zod writes for every integer go, in input and output alike.
 * - In an output schema, `additionalProperties` `false` or `{}` goes (a
 *   result with an extra field is still valid, and a client reads only what
 *   it knows); `required` goes (it restates property names, about a tenth
 *   of the list; a client that checks results only checks less); so does
 *   `type` beside `properties` (object) or `items` (array), except at the
 *   root, which MCP requires to say `type: "object"`. Input schemas keep
 *   their other limits: the gateway refuses what they refuse.
 *
 * @param schema A JSON Schema from `z.toJSONSchema`.
 * @param options `io: "output"` for an output schema; `unlisted` top-level keys to leave out.
 * @returns A new, smaller schema.
 */
export function compactSchema<T>(
  schema: T,
  options: { io: "input" | "output"; unlisted?: readonly string[] },
): T {
  const { $schema: _dialect, ...rest } = schema as Node;
  const top = rest.properties;
  if (options.unlisted?.length && isObject(top)) {
    rest.properties = Object.fromEntries(
      Object.entries(top).filter(([key]) => !options.unlisted!.includes(key)),
    );
    delete rest.additionalProperties;
  }
  const compacted = walk(rest, (node) => {
    const names = node.propertyNames;
    if (isObject(names) && Object.keys(names).length === 1 && names.type === "string") {
      delete node.propertyNames;
    }
    if (options.io === "input") {
      // A long pattern (a date-time, an image reference, a host name) tells
      // the model little that the field's name and `format` do not; the zod
      // schema still checks it and its error says what was expected.
      if (typeof node.pattern === "string" && node.pattern.length > MAX_LISTED_PATTERN) {
        delete node.pattern;
      }
    }
    if (node.type === "integer" && node.maximum === MAX_SAFE) delete node.maximum;
    if (node.type === "integer" && node.minimum === -MAX_SAFE) delete node.minimum;
    if (options.io === "output") {
      const extra = node.additionalProperties;
      if (extra === false || (isObject(extra) && Object.keys(extra).length === 0)) {
        delete node.additionalProperties;
      }
      delete node.required;
      // Output schemas are for clients checking structuredContent; the words
      // are in the tool's description and cost tokens in every conversation.
      delete node.description;
      // `properties` and `items` say what the value is; the type restates it.
      if (node.type === "object" && isObject(node.properties)) delete node.type;
      if (node.type === "array" && node.items !== undefined) delete node.type;
    }
    return node;
  }) as Node;
  const kept = options.io === "output" ? prune(compacted, OUTPUT_DEPTH) as Node : compacted;
  const inputs = kept.properties;
  if (options.io === "input" && isObject(inputs) && isObject(inputs.targets)) {
    // The envelope's keys, in every tool: a selector string or a list of
    // them, one id, a flag. Their limits and default are still checked on the
    // way in and stated once in the server's instructions.
    inputs.target = { type: "string" };
    inputs.targets = { type: ["string", "array"], items: { type: "string" } };
    inputs.dry_run = { type: "boolean" };
  }
  // MCP requires a tool schema's root to say `type: "object"`.
  return { type: "object", ...kept } as T;
}

/**
 * Schema levels an output schema keeps: the envelope (results, each result,
 * its data) and the data's own fields one level down. Deeper levels become
 * `{}` (any value): a client still checks the shape that matters, and the
 * list stays within its token budget.
 */
const OUTPUT_DEPTH = 5;

function prune(schema: unknown, depth: number): unknown {
  if (Array.isArray(schema)) return schema.map((child) => prune(child, depth));
  if (!isObject(schema)) return schema;
  if (depth <= 0) return {};
  const copy: Node = {};
  for (const [key, value] of Object.entries(schema)) {
    if (SCHEMA_MAPS.has(key) && isObject(value)) {
      copy[key] = Object.fromEntries(
        Object.entries(value).map(([name, child]) => [name, prune(child, depth - 1)]),
      );
    } else if (key === "items" || key === "anyOf" || key === "oneOf" || key === "allOf") {
      const pruned = prune(value, depth - 1);
      // `anyOf: [{}, {}]` (a nullable object cut off) says no more than `{}`.
      if (
        Array.isArray(pruned) && pruned.every((s) => isObject(s) && Object.keys(s).length === 0)
      ) {
        continue;
      }
      copy[key] = pruned;
    } else copy[key] = value;
  }
  return copy;
}
