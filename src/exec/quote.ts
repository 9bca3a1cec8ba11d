/**
 * POSIX shell quoting: the one place in the gateway that turns argv into a
 * remote command line. Every element is wrapped in single quotes, inside which
 * a POSIX shell treats every byte literally; an embedded `'` becomes `'\''`.
 * Putting `--` between options and operands is the planner's job, not ours.
 *
 * Workers import this module; it imports nothing.
 *
 * @module
 */

/**
 * Quotes one argument for a POSIX shell (`sh`, `dash`, `bash`, `busybox sh`).
 *
 * @example
 * ```ts
 * quoteArg("it's"); // 'it'\''s'
 * ```
 *
 * @param arg The argument, taken verbatim.
 * @returns The argument in single quotes; the shell reads it back unchanged.
 * @throws {TypeError} When the argument contains a NUL byte, which no shell argument can hold.
 */
export function quoteArg(arg: string): string {
  if (typeof arg !== "string") {
    throw new TypeError(`Cannot quote argument: expected a string, found ${typeof arg}`);
  }
  if (arg.includes("\0")) {
    throw new TypeError("Cannot quote argument: expected no NUL byte, found one");
  }
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Quotes an argv for a POSIX shell: each element quoted, joined by spaces.
 *
 * @example
 * ```ts
 * quoteArgv(["printf", "%s", "a b"]); // 'printf' '%s' 'a b'
 * ```
 *
 * @param argv Program name and arguments; at least one element.
 * @returns The command line.
 * @throws {TypeError} When argv is empty or an element contains a NUL byte.
 */
export function quoteArgv(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new TypeError("Cannot quote argv: expected at least one element, found none");
  }
  return argv.map(quoteArg).join(" ");
}
