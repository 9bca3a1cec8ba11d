/**
 * The error type for configuration that cannot be used.
 *
 * @module
 */

/** Where in a file a problem is. */
export interface SourcePosition {
  /** File name as given by the user, or a label such as `<embedded default>`. */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

/** One problem found in a configuration file. */
export interface ConfigProblem {
  /** Where it is, when known. */
  position?: SourcePosition;
  /** Key path from the document root, e.g. `targets[2].connection.port`. */
  path: string;
  /** What was expected and what was found. */
  message: string;
}

/**
 * A configuration file that cannot be used. The message lists each problem as
 * `file:line:column: message`, so editors and terminals can jump to it.
 */
export class ConfigError extends Error {
  /** Every problem found, in document order. */
  readonly problems: readonly ConfigProblem[];

  /**
   * @param problems What is wrong; at least one.
   */
  constructor(problems: readonly ConfigProblem[]) {
    super(problems.map(formatProblem).join("\n"));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * Formats one problem as `file:line:column: message (at path)`.
 *
 * @param problem The problem.
 * @returns One line.
 */
export function formatProblem(problem: ConfigProblem): string {
  const where = problem.position
    ? `${problem.position.file}:${problem.position.line}:${problem.position.column}: `
    : "";
  const path = problem.path ? ` (at ${problem.path})` : "";
  return `${where}${problem.message}${path}`;
}
