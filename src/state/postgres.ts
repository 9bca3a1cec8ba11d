/**
 * The PostgreSQL state backend: connects, applies the schema's migrations
 * (under an advisory lock, so gateways starting together are safe), and
 * assembles approvals, tokens, rate limits, session bindings and the audit
 * mirror over one connection pool and one `LISTEN` channel.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { AuditLog } from "../audit/writer.ts";
import { AuditMirror } from "./_pg_audit_mirror.ts";
import { PgApprovals } from "./_pg_approvals.ts";
import { PgClient, type PgClientOptions } from "./_pg_client.ts";
import { migrate } from "./_pg_migrations.ts";
import { PgRateLimiter } from "./_pg_rate_limit.ts";
import { pgSessionBindings } from "./_pg_sessions.ts";
import { PgTokens } from "./_pg_tokens.ts";
import type { SharedStateMode, StateBackend } from "./backend.ts";
import type { PostgresTarget } from "./state_url.ts";

export { PgClient } from "./_pg_client.ts";

const log = getLogger(["tailops", "state"]);

/** Options of {@linkcode openPostgresState}. */
export interface PostgresStateOptions extends PgClientOptions {
  /** This gateway's id (its audit chain's name in the mirror). */
  readonly gatewayId: string;
  /** What to do while the database is unreachable; default `required`. */
  readonly mode?: SharedStateMode;
  /** How often revocations are reloaded besides notifications (ms); default 5000. */
  readonly pollMs?: number;
}

/**
 * Opens the PostgreSQL backend.
 *
 * Needs `net` permission for the server (or its unix socket).
 *
 * @param target Where the database is.
 * @param options Gateway id, failure mode, intervals.
 * @returns The backend.
 * @throws {Error} When the database cannot be reached or its schema is newer than this gateway's.
 */
export async function openPostgresState(
  target: PostgresTarget,
  options: PostgresStateOptions,
): Promise<StateBackend> {
  const db = await PgClient.connect(target, options);
  try {
    const applied = await migrate(db.sql);
    if (applied.length > 0) {
      log.info("Shared state schema migrated to {versions}", { versions: applied });
    }
  } catch (error) {
    await db.close();
    throw error;
  }
  const bestEffort = options.mode === "best_effort";
  const tokens = new PgTokens(db, { bestEffort, pollMs: options.pollMs });
  await tokens.reload();
  let mirror: AuditMirror | undefined;
  return {
    kind: "postgres",
    display: target.display,
    gatewayId: options.gatewayId,
    approvals: new PgApprovals(db, options.gatewayId),
    tokens,
    sessions: pgSessionBindings(db, options.gatewayId),
    rateLimiter: (limits) => new PgRateLimiter(db, { limits, bestEffort }),
    health: () => db.health,
    async mirrorAudit(audit: AuditLog, file: string) {
      mirror = new AuditMirror(db, { gateway: options.gatewayId, file });
      audit.onRecord((record) => mirror!.enqueue(record));
      await mirror.start();
    },
    async close() {
      tokens.close();
      await mirror?.close();
      await db.close();
    },
  };
}
