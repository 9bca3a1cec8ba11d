/**
 * The state backend: where the state that several gateways must agree on
 * lives — approvals, the token ledger and revocations, rate-limit buckets,
 * session bindings, and a mirror of each gateway's audit chain. Two
 * implementations: the embedded default (the state directory and this
 * process; one gateway needs nothing else) and PostgreSQL (`--state-url`).
 *
 * @module
 */
import type { AuditLog } from "../audit/writer.ts";
import { fileTokenStore, type TokenStore } from "../auth/token_ledger.ts";
import type { ApprovalRecords } from "../gate/approvals.ts";
import type { CallRateLimiter, TierRateLimiter } from "../gate/rate_limit.ts";
import { localSessionBindings, type SessionBindings } from "../http/session_bindings.ts";
import type { StateHealth } from "./_pg_client.ts";

export type { StateHealth } from "./_pg_client.ts";

/** What a gateway does with calls that need shared state while it is unreachable. */
export type SharedStateMode = "required" | "best_effort";

/** One gateway's view of the state it shares (or, embedded, keeps alone). */
export interface StateBackend {
  /** `embedded` (the state directory) or `postgres`. */
  readonly kind: "embedded" | "postgres";
  /** Where, for logs and `/readyz` (never a password). */
  readonly display: string;
  /** This gateway's id: names its audit chain in the mirror. */
  readonly gatewayId: string;
  /** Where approvals are kept; `undefined` for the state directory's files. */
  readonly approvals: ApprovalRecords | undefined;
  /** The token ledger and revocations. */
  readonly tokens: TokenStore;
  /** Which identity opened which MCP session. */
  readonly sessions: SessionBindings;
  /**
   * The call limiter: the policy's settings, shared or in this process.
   *
   * @param limits The in-process limiter built from the policy.
   * @returns The limiter calls go through.
   */
  rateLimiter(limits: TierRateLimiter): CallRateLimiter;
  /** Whether shared state can be used now (always ok when embedded). */
  health(): StateHealth;
  /**
   * Ships every record of this gateway's audit log to the shared mirror
   * (nothing when embedded).
   *
   * @param audit The open log.
   * @param file Its path, to send what the mirror lacks.
   */
  mirrorAudit(audit: AuditLog, file: string): Promise<void>;
  /** Closes connections and timers (after the last audit record). */
  close(): Promise<void>;
}

/**
 * The embedded backend: the state directory's files and this process's memory.
 *
 * @param stateDir The gateway's state directory.
 * @returns The backend.
 */
export function embeddedState(stateDir: string): StateBackend {
  return {
    kind: "embedded",
    display: `embedded (${stateDir})`,
    gatewayId: "local",
    approvals: undefined,
    tokens: fileTokenStore(stateDir),
    sessions: localSessionBindings(),
    rateLimiter: (limits) => limits,
    health: () => ({ ok: true }),
    mirrorAudit: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

/**
 * Reads (or creates, once) this state directory's gateway id, `STATE/gateway.id`:
 * stable across restarts, as the local audit chain it names is.
 *
 * Needs `read` and `write` permission for the state directory.
 *
 * @param stateDir The gateway's state directory.
 * @returns An id such as `gw-3f9a1c2d4b5e6f70`.
 */
export async function gatewayIdOf(stateDir: string): Promise<string> {
  const path = `${stateDir}/gateway.id`;
  try {
    const text = (await Deno.readTextFile(path)).trim();
    if (/^[A-Za-z0-9._-]{1,64}$/.test(text)) return text;
    throw new Error(`Invalid ${path}: expected letters, digits, ".", "_" or "-", found other text`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  const id = `gw-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  try {
    await Deno.writeTextFile(path, `${id}\n`, { createNew: true, mode: 0o600 });
    return id;
  } catch (error) {
    // Another process created it meanwhile: use theirs.
    if (error instanceof Deno.errors.AlreadyExists) return await gatewayIdOf(stateDir);
    throw error;
  }
}
