/**
 * The shared schema, as numbered migrations the gateway applies at start.
 * Several gateways may start at once: every start takes one transaction-level
 * advisory lock first, so exactly one applies each migration and the others
 * wait and then find it done. A database already migrated past what this
 * gateway knows is refused (an older gateway must not write a newer schema).
 *
 * Private to `src/state`.
 *
 * @module
 */
import type { Sql } from "postgres";

/** The advisory lock key every gateway takes while migrating ("tailops" in ASCII). */
export const MIGRATION_LOCK = 0x7461696c6f7073;

/** One step of the schema, applied once, in order. */
interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** Every migration; append only, never edit one that shipped. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE tailops_approvals (
        id text PRIMARY KEY,
        record jsonb NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      );
      -- One row per once-only step (decided, used): the primary key makes the claim atomic.
      CREATE TABLE tailops_approval_claims (
        id text NOT NULL,
        step text NOT NULL CHECK (step IN ('decided', 'used')),
        gateway text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (id, step)
      );
      CREATE TABLE tailops_approval_unaudited (id text PRIMARY KEY);
      CREATE TABLE tailops_token_ledger (
        seq bigserial PRIMARY KEY,
        jti text NOT NULL UNIQUE,
        entry jsonb NOT NULL
      );
      CREATE TABLE tailops_token_revocations (
        jti text PRIMARY KEY,
        revoked_at bigint NOT NULL
      );
      CREATE TABLE tailops_rate_buckets (
        key text PRIMARY KEY,
        tokens double precision NOT NULL,
        updated_ms bigint NOT NULL,
        granted boolean NOT NULL
      );
      CREATE TABLE tailops_sessions (
        id text PRIMARY KEY,
        subject text NOT NULL,
        gateway text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE tailops_audit_mirror (
        gateway text NOT NULL,
        seq bigint NOT NULL,
        hash text NOT NULL,
        line text NOT NULL,
        shipped_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (gateway, seq)
      );
    `,
  },
];

/**
 * Brings the schema up to date under the advisory lock.
 *
 * @param sql A connected pool.
 * @returns The versions applied by this call (empty when another gateway did it).
 * @throws {Error} When the database holds a newer schema than this gateway knows.
 */
export async function migrate(sql: Sql): Promise<number[]> {
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS tailops_schema_migrations (
      version integer PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const rows = await tx<{ version: number }[]>`SELECT version FROM tailops_schema_migrations`;
    const done = new Set(rows.map((r) => Number(r.version)));
    const known = MIGRATIONS.at(-1)!.version;
    const newest = Math.max(0, ...done);
    if (newest > known) {
      throw new Error(
        `Cannot use the shared state database: expected schema version ${known} or older, found ${newest} (upgrade this gateway)`,
      );
    }
    const applied: number[] = [];
    for (const migration of MIGRATIONS) {
      if (done.has(migration.version)) continue;
      await tx.unsafe(migration.sql);
      await tx`INSERT INTO tailops_schema_migrations (version) VALUES (${migration.version})`;
      applied.push(migration.version);
    }
    return applied;
  });
}
