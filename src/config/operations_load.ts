/**
 * Loads a directory of operator-defined operation files (`*.yaml`, `*.yml`,
 * not recursive), reporting every problem of every file at
 * `file:line:column`.
 *
 * @module
 */
import { ConfigError, type ConfigProblem, type SourcePosition } from "./errors.ts";
import { type OperationFile, operationFileSchema } from "./operations_schema.ts";
import { describeReadError } from "./read_error.ts";
import { loadPositionParser, parseConfig } from "./yaml_source.ts";

/** Operation files read at most from one directory. */
export const MAX_OPERATION_FILES = 256;

/** One validated operation file. */
export interface LoadedOperation {
  /** The file it came from, as the directory was given plus the name. */
  readonly file: string;
  readonly spec: OperationFile;
  /** `file:line:column` of a key path, for problems found later (name collisions). */
  locate(path: readonly (string | number)[]): SourcePosition | undefined;
}

/**
 * Parses and validates one operation file's text.
 *
 * @param text YAML text.
 * @param file Name used in error positions.
 * @returns The validated operation.
 * @throws {ConfigError} With `file:line:column` for every problem.
 */
export function parseOperationFile(text: string, file: string): LoadedOperation {
  const { config, source } = parseConfig(text, file, operationFileSchema);
  return { file, spec: config, locate: (path) => source.positionOf(path) };
}

/**
 * Loads every operation file of a directory. Two files declaring one name are an error.
 *
 * Needs `read` on the directory.
 *
 * @param dir The directory.
 * @param options `builtins`: names a file may not take (reported with the other problems).
 * @returns The operations, in file name order.
 * @throws {ConfigError} Listing every problem of every file.
 */
export async function loadOperations(
  dir: string,
  options: { builtins?: readonly string[] } = {},
): Promise<LoadedOperation[]> {
  // Only with an operator directory: its problems are gathered across files
  // and placed by line, so the parser that knows positions is loaded up front.
  await loadPositionParser();
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if ((entry.isFile || entry.isSymlink) && /\.ya?ml$/.test(entry.name)) names.push(entry.name);
    }
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read the operations directory ${JSON.stringify(dir)}: ${
        describeReadError(error)
      }`,
    }]);
  }
  if (names.length > MAX_OPERATION_FILES) {
    throw new ConfigError([{
      path: "",
      message: `Too many operation files in ${
        JSON.stringify(dir)
      }: expected at most ${MAX_OPERATION_FILES}, found ${names.length}`,
    }]);
  }
  names.sort();
  const problems: ConfigProblem[] = [];
  const loaded: LoadedOperation[] = [];
  for (const name of names) {
    const file = `${dir.replace(/\/$/, "")}/${name}`;
    try {
      loaded.push(parseOperationFile(await readText(file), file));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  const seen = new Map<string, string>();
  for (const op of loaded) {
    const first = seen.get(op.spec.name);
    if (options.builtins?.includes(op.spec.name)) {
      problems.push({
        path: "name",
        position: op.locate(["name"]),
        message: `Operation ${JSON.stringify(op.spec.name)} collides with a built-in operation`,
      });
    } else if (first !== undefined) {
      problems.push({
        path: "name",
        position: op.locate(["name"]),
        message: `Operation ${JSON.stringify(op.spec.name)} is already declared in ${first}`,
      });
    } else seen.set(op.spec.name, op.file);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return loaded;
}

async function readText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read ${file}: ${describeReadError(error)}`,
    }]);
  }
}
