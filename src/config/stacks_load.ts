/**
 * Loads the compose stacks an operator curates on the gateway: a directory
 * with one subdirectory per stack (`STACKS/monitoring/compose.yaml`, its env
 * and config files), read once at start. `stack_deploy` copies a stack's
 * files to targets.
 *
 * @module
 */
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { describeReadError } from "./read_error.ts";

/** Files per stack at most. */
export const MAX_STACK_FILES = 32;
/** Bytes per stack file at most. */
export const MAX_STACK_FILE_BYTES = 1024 * 1024;

/** A stack name: what compose accepts as a project name. */
export const STACK_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** A stack file name: no path, no leading dot or dash. */
export const STACK_FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** The compose file names compose looks for by default. */
export const COMPOSE_FILE_NAMES = [
  "compose.yaml",
  "compose.yml",
  "docker-compose.yaml",
  "docker-compose.yml",
];

/** One curated stack. */
export interface Stack {
  readonly name: string;
  /** Its files, by name order: name and UTF-8 content. */
  readonly files: readonly { readonly name: string; readonly content: string }[];
}

/**
 * Loads every stack of a directory.
 *
 * Needs `read` on the directory.
 *
 * @param dir The stacks directory.
 * @returns The stacks, by name order, frozen.
 * @throws {ConfigError} Naming every unusable stack or file.
 */
export async function loadStacks(dir: string): Promise<readonly Stack[]> {
  const problems: ConfigProblem[] = [];
  const stacks: Stack[] = [];
  const problem = (message: string) => problems.push({ path: "", message });
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).filter((e) => e.isDirectory)
      .map((e) => e.name).sort();
  } catch (error) {
    throw new ConfigError([{
      path: "",
      message: `Cannot read the stacks directory ${JSON.stringify(dir)}: ${
        describeReadError(error)
      }`,
    }]);
  }
  for (const name of names) {
    const where = `${dir.replace(/\/$/, "")}/${name}`;
    if (!STACK_NAME.test(name)) {
      problem(`Stack ${JSON.stringify(where)}: expected a name of a-z, 0-9, "_", "-"`);
      continue;
    }
    const files: { name: string; content: string }[] = [];
    for await (const entry of Deno.readDir(where)) {
      const file = `${where}/${entry.name}`;
      if (!entry.isFile) {
        problem(`Stack file ${JSON.stringify(file)}: expected a regular file`);
      } else if (!STACK_FILE_NAME.test(entry.name)) {
        problem(
          `Stack file ${JSON.stringify(file)}: expected a name of letters, digits, ".", "_", "-"`,
        );
      } else {
        const bytes = await Deno.readFile(file);
        if (bytes.length > MAX_STACK_FILE_BYTES) {
          problem(
            `Stack file ${JSON.stringify(file)}: expected at most ${MAX_STACK_FILE_BYTES} bytes`,
          );
          continue;
        }
        try {
          files.push({
            name: entry.name,
            content: new TextDecoder("utf-8", { fatal: true }).decode(bytes),
          });
        } catch {
          problem(`Stack file ${JSON.stringify(file)}: expected UTF-8 text`);
        }
      }
    }
    if (files.length > MAX_STACK_FILES) {
      problem(`Stack ${JSON.stringify(where)}: expected at most ${MAX_STACK_FILES} files`);
    }
    if (!files.some((f) => COMPOSE_FILE_NAMES.includes(f.name))) {
      problem(
        `Stack ${JSON.stringify(where)}: expected a compose file (${
          COMPOSE_FILE_NAMES.join(", ")
        })`,
      );
    }
    files.sort((a, b) => a.name < b.name ? -1 : 1);
    stacks.push(Object.freeze({ name, files: Object.freeze(files) }));
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(stacks);
}
