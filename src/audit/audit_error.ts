/**
 * The error the audit log raises when it cannot be opened or written.
 *
 * @module
 */

/**
 * The audit log cannot be opened or written. Once an append has failed, every
 * later append fails too, and the gateway must refuse calls.
 */
export class AuditError extends Error {
  /**
   * Set on a refused append of a record nothing waited on (`durable: false`):
   * `true` when the log kept it to write once it can write again.
   */
  held?: boolean;

  /**
   * Creates the error.
   *
   * @param message What went wrong.
   * @param options The underlying error, as `cause`.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AuditError";
  }
}

/**
 * The audit log file is locked by another writer (another gateway on the same
 * state directory). {@linkcode openAuditChain} takes the next chain instead.
 */
export class AuditLockedError extends AuditError {
  /**
   * Creates the error.
   *
   * @param message What went wrong.
   */
  constructor(message: string) {
    super(message);
    this.name = "AuditLockedError";
  }
}
