/**
 * Approvals in the shared database: one row per approval (the validated
 * record as JSON) and one row per once-only step. A step is claimed by one
 * `INSERT ... ON CONFLICT DO NOTHING`, atomic across every gateway: whichever
 * path uses an approval (its id or its signed grant, on any gateway) claims
 * the same `used` row, so the call runs once.
 *
 * Private to `src/state`.
 *
 * @module
 */
import {
  approvalIdSchema,
  type ApprovalRecord,
  type ApprovalRecords,
  approvalRecordSchema,
  ApprovalStoreError,
} from "../gate/approvals.ts";
import { CHANNEL, type PgClient } from "./_pg_client.ts";

function parseRow(id: string, text: string): ApprovalRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  const parsed = approvalRecordSchema.safeParse(value);
  if (!parsed.success || parsed.data.id !== id) {
    throw new ApprovalStoreError(
      `Cannot read approval ${id} from the shared state: expected a valid approval record`,
    );
  }
  return parsed.data;
}

/** {@linkcode ApprovalRecords} kept in PostgreSQL. */
export class PgApprovals implements ApprovalRecords {
  readonly #db: PgClient;
  readonly #gateway: string;

  /**
   * @param db The connection.
   * @param gateway This gateway's id, recorded with each claim.
   */
  constructor(db: PgClient, gateway: string) {
    this.#db = db;
    this.#gateway = gateway;
  }

  /** @inheritdoc */
  async read(id: string): Promise<ApprovalRecord | undefined> {
    approvalIdSchema.parse(id);
    const rows = await this.#db.run(
      "read the approval",
      (sql) =>
        sql<
          { record: string }[]
        >`SELECT record::text AS record FROM tailops_approvals WHERE id = ${id}`,
      { idempotent: true },
    );
    return rows.length === 0 ? undefined : parseRow(id, rows[0].record);
  }

  /** @inheritdoc */
  async write(record: ApprovalRecord): Promise<void> {
    const text = JSON.stringify(approvalRecordSchema.parse(record));
    const notice = JSON.stringify({ kind: "approval", id: record.id });
    await this.#db.run("record the approval", (sql) =>
      sql`WITH written AS (
        INSERT INTO tailops_approvals (id, record) VALUES (${record.id}, ${text}::text::jsonb)
        ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()
        RETURNING id
      ) SELECT pg_notify(${CHANNEL}, ${notice}) FROM written`, { idempotent: true });
  }

  /** @inheritdoc */
  async ids(): Promise<string[]> {
    const rows = await this.#db.run(
      "list approvals",
      (sql) => sql<{ id: string }[]>`SELECT id FROM tailops_approvals`,
      { idempotent: true },
    );
    return rows.map((r) => r.id);
  }

  /** @inheritdoc */
  async list(): Promise<ApprovalRecord[]> {
    const rows = await this.#db.run(
      "list approvals",
      (sql) =>
        sql<
          { id: string; record: string }[]
        >`SELECT id, record::text AS record FROM tailops_approvals`,
      { idempotent: true },
    );
    return rows.map((r) => parseRow(r.id, r.record));
  }

  /** @inheritdoc */
  async markUnaudited(id: string): Promise<void> {
    await this.#db.run(
      "mark the decision",
      (sql) =>
        sql`INSERT INTO tailops_approval_unaudited (id) VALUES (${approvalIdSchema.parse(id)})
          ON CONFLICT DO NOTHING`,
      { idempotent: true },
    );
  }

  /** @inheritdoc */
  async isUnaudited(id: string): Promise<boolean> {
    const rows = await this.#db.run(
      "read the decision mark",
      (sql) => sql`SELECT 1 FROM tailops_approval_unaudited WHERE id = ${id}`,
      { idempotent: true },
    );
    return rows.length > 0;
  }

  /** @inheritdoc */
  async clearUnaudited(id: string): Promise<void> {
    await this.#db.run(
      "clear the decision mark",
      (sql) => sql`DELETE FROM tailops_approval_unaudited WHERE id = ${id}`,
      { idempotent: true },
    );
  }

  /** @inheritdoc */
  async claim(id: string, step: "decided" | "used"): Promise<boolean> {
    approvalIdSchema.parse(id);
    const rows = await this.#db.run(
      step === "used" ? "use the approval" : "decide the approval",
      (sql) =>
        sql`INSERT INTO tailops_approval_claims (id, step, gateway)
            VALUES (${id}, ${step}, ${this.#gateway})
            ON CONFLICT DO NOTHING RETURNING id`,
    );
    return rows.length === 1;
  }
}
