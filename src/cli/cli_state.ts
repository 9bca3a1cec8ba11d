/**
 * The state backend for one-shot commands (`token`, `approvals`): the state
 * directory, or the shared database named by `--state-url` /
 * `TAILOPS_STATE_URL`, closed when the command ends.
 *
 * @module
 */
import { openStateBackend, type StateBackend, StateOpenError } from "../state/mod.ts";
import { CliError } from "./errors.ts";
import { type Parsed, stringOption } from "./options.ts";

/** The `--state-url` flag, for a command's flag table. */
export const STATE_URL_FLAG = { "state-url": { type: "string" } } as const;

/**
 * Opens the backend a command's flags name.
 *
 * @param parsed The command's flags (`--state-url`).
 * @param stateDir The state directory.
 * @returns The backend; `await using` closes it.
 * @throws {CliError} When the URL is malformed or the database cannot be used (exit 1).
 */
export async function cliState(
  parsed: Parsed,
  stateDir: string,
): Promise<StateBackend & AsyncDisposable> {
  let state: StateBackend;
  try {
    state = await openStateBackend({
      stateDir,
      stateUrl: stringOption(parsed, "state-url", "TAILOPS_STATE_URL"),
    });
  } catch (error) {
    if (error instanceof StateOpenError) throw new CliError(error.message, 1);
    throw error;
  }
  return Object.assign(state, { [Symbol.asyncDispose]: () => state.close() });
}
