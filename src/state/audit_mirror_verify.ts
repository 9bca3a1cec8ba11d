/**
 * Verifies every gateway's audit chain from the shared mirror: the records
 * are walked as the local verifier walks a file (hash chain, checkpoint
 * signatures with a key), and missing chain positions are listed as gaps.
 *
 * @module
 */
import type { CheckpointVerifier } from "../audit/checkpoint.ts";
import { verifyAuditText, type VerifyReport } from "../audit/verify.ts";
import type { PgClient } from "./_pg_client.ts";

/** One gateway's chain in the mirror. */
export interface MirrorReport {
  /** The gateway id. */
  readonly gateway: string;
  /** Rows found. */
  readonly rows: number;
  /** The highest chain position found. */
  readonly lastSeq: number;
  /** Missing positions, as inclusive ranges `[from, to]`, from 1 to the highest found. */
  readonly gaps: readonly (readonly [number, number])[];
  /** The chain walk over the rows found, in order. */
  readonly chain: VerifyReport;
}

/**
 * Reads and verifies every gateway's mirrored chain.
 *
 * @param db A connected client.
 * @param options The audit public key for checkpoint signatures.
 * @returns One report per gateway, by gateway id.
 * @throws {StateUnavailableError} When the database cannot be read.
 */
export async function verifyAuditMirror(
  db: PgClient,
  options: { key?: CheckpointVerifier } = {},
): Promise<MirrorReport[]> {
  const gateways = await db.run(
    "list audit chains",
    (sql) =>
      sql<
        { gateway: string }[]
      >`SELECT DISTINCT gateway FROM tailops_audit_mirror ORDER BY gateway`,
    { idempotent: true },
  );
  const reports: MirrorReport[] = [];
  for (const { gateway } of gateways) {
    const rows = await db.run(
      "read an audit chain",
      (sql) =>
        sql<{ seq: string; line: string }[]>`SELECT seq, line FROM tailops_audit_mirror
          WHERE gateway = ${gateway} ORDER BY seq`,
      { idempotent: true },
    );
    const gaps: [number, number][] = [];
    let expected = 1;
    for (const row of rows) {
      const seq = Number(row.seq);
      if (seq > expected) gaps.push([expected, seq - 1]);
      expected = seq + 1;
    }
    const text = rows.map((r) => `${r.line}\n`).join("");
    reports.push({
      gateway,
      rows: rows.length,
      lastSeq: expected - 1,
      gaps,
      chain: await verifyAuditText(text, { key: options.key }),
    });
  }
  return reports;
}
