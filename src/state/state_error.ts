/**
 * The error every shared-state operation throws when the shared database
 * cannot be reached, so callers can fail closed with one clear sentence.
 *
 * @module
 */

/** The shared state (PostgreSQL) is unreachable; the operation that needs it is refused. */
export class StateUnavailableError extends Error {
  /**
   * @param message What could not be done and why, in one sentence.
   * @param options The underlying cause (never shown to clients).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateUnavailableError";
  }
}

/** The state backend could not be opened: a bad `--state-url`, or a database that cannot be used. */
export class StateOpenError extends Error {
  /**
   * @param message One sentence saying what was expected and what was found.
   * @param options The underlying cause.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateOpenError";
  }
}
