/**
 * Shared state for several gateways: the backend interface, its embedded
 * default and PostgreSQL, chosen by one setting (`--state-url`).
 *
 * @module
 */
import { embeddedState, gatewayIdOf, type SharedStateMode, type StateBackend } from "./backend.ts";
import type { PgClient } from "./postgres.ts";
import { readStateUrl } from "./state_url.ts";
import { StateOpenError } from "./state_error.ts";

export {
  embeddedState,
  gatewayIdOf,
  type SharedStateMode,
  type StateBackend,
  type StateHealth,
} from "./backend.ts";
export { StateOpenError, StateUnavailableError } from "./state_error.ts";
export { type PostgresTarget, readStateUrl } from "./state_url.ts";
// `verifyAuditMirror` (./audit_mirror_verify.ts) is imported from its module by
// `tailops audit`: re-exported here it would load the verifier into every start.

/** What {@linkcode openStateBackend} needs. */
export interface OpenStateOptions {
  /** The gateway's state directory (the embedded store, and where its gateway id is kept). */
  readonly stateDir: string;
  /** `--state-url`: a PostgreSQL URL or a secret reference to one; embedded when absent. */
  readonly stateUrl?: string;
  /** The policy's `shared_state`. */
  readonly mode?: SharedStateMode;
}

/**
 * Opens the state backend a setting names.
 *
 * Needs `read`/`write` for the state directory; with a URL, `net` for the
 * server and `env`/`read` for a secret reference.
 *
 * @param options State directory, URL and failure mode.
 * @returns The backend (close it after the last audit record).
 * @throws {StateOpenError} When the URL is malformed, or the database cannot be reached or
 * migrated (one sentence, never the password).
 */
export async function openStateBackend(options: OpenStateOptions): Promise<StateBackend> {
  if (options.stateUrl === undefined || options.stateUrl === "") {
    return embeddedState(options.stateDir);
  }
  try {
    const target = await readStateUrl(options.stateUrl);
    await Deno.mkdir(options.stateDir, { recursive: true, mode: 0o700 });
    // Loaded only when configured: the PostgreSQL driver adds ~40-80 ms to every start.
    const { openPostgresState } = await import("./postgres.ts");
    return await openPostgresState(target, {
      gatewayId: await gatewayIdOf(options.stateDir),
      mode: options.mode,
    });
  } catch (error) {
    throw new StateOpenError((error as Error).message, { cause: error });
  }
}

/**
 * Connects to the shared database without touching its schema (for
 * read-only commands such as `audit verify --state-url`).
 *
 * @param stateUrl A PostgreSQL URL or a secret reference to one.
 * @returns The client; close it when done.
 * @throws {StateOpenError} When the URL is malformed or the database cannot be reached.
 */
export async function connectState(stateUrl: string): Promise<PgClient> {
  try {
    const { PgClient } = await import("./postgres.ts");
    return await PgClient.connect(await readStateUrl(stateUrl));
  } catch (error) {
    throw new StateOpenError((error as Error).message, { cause: error });
  }
}
