/**
 * The token ledger and revocation list in the shared database. Every
 * gateway keeps the revoked ids in memory for the per-request check: a
 * revocation is inserted and announced with `pg_notify` in one statement, so
 * the others add it as soon as the notice arrives; after a reconnect, and at
 * a bounded interval in any case, the set is reloaded from the table. While
 * the database is unreachable the check refuses (fails closed), unless the
 * policy says `shared_state: best_effort`, which keeps the last loaded set.
 *
 * Private to `src/state`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import {
  type LedgerEntry,
  ledgerEntrySchema,
  type Revocation,
  type TokenStore,
} from "../auth/token_ledger.ts";
import { CHANNEL, type PgClient } from "./_pg_client.ts";
import { StateUnavailableError } from "./state_error.ts";

const log = getLogger(["tailops", "state"]);

/** {@linkcode TokenStore} kept in PostgreSQL. */
export class PgTokens implements TokenStore {
  readonly #db: PgClient;
  readonly #bestEffort: boolean;
  #revoked: Set<string> | undefined;
  #reloading: Promise<void> | undefined;
  #poll: ReturnType<typeof setInterval>;

  /**
   * @param db The connection (its notices update the cache).
   * @param options `bestEffort`: keep answering from the last loaded set while
   * the database is gone; `pollMs`: the reload interval (default 5 s).
   */
  constructor(db: PgClient, options: { bestEffort: boolean; pollMs?: number }) {
    this.#db = db;
    this.#bestEffort = options.bestEffort;
    db.onNotice((notice) => {
      if (notice === "resync") void this.reload();
      else if (notice.kind === "revoked") this.#revoked?.add(notice.jti);
    });
    this.#poll = setInterval(() => void this.reload(), options.pollMs ?? 5_000);
    Deno.unrefTimer(this.#poll);
  }

  /** Stops the reload timer. */
  close(): void {
    clearInterval(this.#poll);
  }

  /**
   * Reloads the revoked ids from the table (one reload at a time).
   *
   * @returns When loaded, or when the database could not be reached (logged).
   */
  reload(): Promise<void> {
    return this.#reloading ??= (async () => {
      await Promise.resolve(); // as in AuditMirror.flush: never clear before `??=` stores
      try {
        this.#revoked = await this.readRevoked();
      } catch (error) {
        if (!(error instanceof StateUnavailableError)) {
          log.error("Cannot reload revocations: {error}", { error: (error as Error).message });
        }
      } finally {
        this.#reloading = undefined;
      }
    })();
  }

  /** @inheritdoc */
  async appendLedger(entry: LedgerEntry): Promise<void> {
    const text = JSON.stringify(ledgerEntrySchema.parse(entry));
    await this.#db.run(
      "record the token",
      (sql) =>
        sql`INSERT INTO tailops_token_ledger (jti, entry) VALUES (${entry.jti}, ${text}::text::jsonb)`,
    );
  }

  /** @inheritdoc */
  async readLedger(): Promise<LedgerEntry[]> {
    const rows = await this.#db.run(
      "read the token ledger",
      (sql) =>
        sql<
          { entry: string }[]
        >`SELECT entry::text AS entry FROM tailops_token_ledger ORDER BY seq`,
      { idempotent: true },
    );
    return rows.map((r, i) => {
      const parsed = ledgerEntrySchema.safeParse(JSON.parse(r.entry));
      if (!parsed.success) {
        throw new Error(`Cannot read token ledger row ${i + 1}: expected a ledger record`);
      }
      return parsed.data;
    });
  }

  /** @inheritdoc */
  async revoke(revocation: Revocation): Promise<void> {
    const notice = JSON.stringify({ kind: "revoked", jti: revocation.jti });
    // Inserted and announced in one statement: the notice goes out when it commits.
    await this.#db.run("record the revocation", (sql) =>
      sql`WITH added AS (
        INSERT INTO tailops_token_revocations (jti, revoked_at)
        VALUES (${revocation.jti}, ${revocation.at}) ON CONFLICT DO NOTHING RETURNING jti
      ) SELECT pg_notify(${CHANNEL}, ${notice})`, { idempotent: true });
    this.#revoked?.add(revocation.jti);
  }

  /** @inheritdoc */
  async readRevoked(): Promise<Set<string>> {
    const rows = await this.#db.run(
      "read revocations",
      (sql) => sql<{ jti: string }[]>`SELECT jti FROM tailops_token_revocations`,
      { idempotent: true },
    );
    return new Set(rows.map((r) => r.jti));
  }

  /** @inheritdoc */
  async isRevoked(jti: string): Promise<boolean> {
    const health = this.#db.health;
    if (!health.ok && !(this.#bestEffort && this.#revoked)) {
      throw new StateUnavailableError(
        `revocations cannot be checked: the shared state database is unreachable (${health.reason})`,
      );
    }
    if (this.#revoked === undefined) await this.reload();
    if (this.#revoked === undefined) {
      throw new StateUnavailableError(
        "revocations cannot be checked: they could not be loaded from the shared state database",
      );
    }
    return this.#revoked.has(jti);
  }
}
