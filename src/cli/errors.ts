/**
 * The error the CLI turns into one line on stderr and an exit code.
 *
 * @module
 */

/** A command-line problem: bad flag, bad value, unusable configuration. */
export class CliError extends Error {
  /** Process exit code. */
  readonly exitCode: number;

  /**
   * @param message One line for the user.
   * @param exitCode Exit code (2 for usage errors, 1 for failures).
   */
  constructor(message: string, exitCode = 2) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
