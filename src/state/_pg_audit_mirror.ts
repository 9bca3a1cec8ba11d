/**
 * The audit mirror: each gateway keeps its own hash-chained log (fast,
 * durable, verifiable offline) and ships every record, exactly as written
 * and with its chain position, to one shared table. Shipping never blocks or
 * fails a call: records wait in a bounded queue and are sent in batches;
 * while the database is gone they wait, and past the bound the oldest are
 * dropped and later re-read from the local log. At start the records the
 * table lacks are sent from the local log.
 *
 * Private to `src/state`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { type AuditRecord, formatRecord } from "../audit/record.ts";
import type { PgClient } from "./_pg_client.ts";
import { StateUnavailableError } from "./state_error.ts";

const log = getLogger(["tailops", "state", "audit"]);

interface Row {
  gateway: string;
  seq: number;
  hash: string;
  line: string;
}

/** Options of {@linkcode AuditMirror}. */
export interface AuditMirrorOptions {
  /** This gateway's id: the chain's name in the table. */
  readonly gateway: string;
  /** The local log file, re-read to fill what the table lacks. */
  readonly file: string;
  /** Records held while the database is gone; default 50 000. */
  readonly maxQueued?: number;
  /** Rows per insert; default 500. */
  readonly batch?: number;
}

/** Ships one gateway's audit records to `tailops_audit_mirror`. */
export class AuditMirror {
  readonly #db: PgClient;
  readonly #options: AuditMirrorOptions;
  #queue: Row[] = [];
  #dropped = false;
  #flushing: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval>;
  #shipped = 0;

  /**
   * @param db The connection.
   * @param options Gateway id, local log, bounds.
   */
  constructor(db: PgClient, options: AuditMirrorOptions) {
    this.#db = db;
    this.#options = options;
    // Retries after an outage; notices that the database is back come through resync.
    this.#timer = setInterval(() => void this.flush(), 1_000);
    Deno.unrefTimer(this.#timer);
    db.onNotice((notice) => {
      if (notice === "resync") void this.flush();
    });
  }

  /** Records shipped by this process. */
  get shipped(): number {
    return this.#shipped;
  }

  /** Records waiting to be shipped. */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Queues one written record (call from the log's record listener).
   *
   * @param record The record as written.
   */
  enqueue(record: AuditRecord): void {
    this.#queue.push({
      gateway: this.#options.gateway,
      seq: record.seq,
      hash: record.hash,
      line: formatRecord(record),
    });
    const max = this.#options.maxQueued ?? 50_000;
    if (this.#queue.length > max) {
      this.#queue.splice(0, this.#queue.length - max);
      // They are in the local log: the next catch-up re-reads them.
      this.#dropped = true;
    }
    if (this.#queue.length === 1) queueMicrotask(() => void this.flush());
  }

  /**
   * Sends what the table lacks from the local log; when the database is
   * unreachable now, the first flush after it returns does.
   *
   * Needs `read` permission for the log file.
   */
  async start(): Promise<void> {
    try {
      await this.catchUp();
    } catch {
      this.#dropped = true;
    }
  }

  /**
   * Sends what the table lacks from the local log (at start, and after drops).
   *
   * Needs `read` permission for the log file.
   */
  async catchUp(): Promise<void> {
    const { gateway, file } = this.#options;
    const rows = await this.#db.run(
      "read the audit mirror",
      (sql) =>
        sql<{ seq: string }[]>`SELECT seq FROM tailops_audit_mirror WHERE gateway = ${gateway}`,
      { idempotent: true },
    );
    const have = new Set(rows.map((r) => Number(r.seq)));
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch {
      return;
    }
    const missing: Row[] = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      let parsed: { seq?: unknown; hash?: unknown };
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      if (typeof parsed.seq !== "number" || typeof parsed.hash !== "string") continue;
      if (!have.has(parsed.seq)) {
        missing.push({ gateway, seq: parsed.seq, hash: parsed.hash, line });
      }
    }
    await this.#insert(missing);
    if (missing.length > 0) {
      log.info("Shipped {count} audit records the mirror lacked", {
        count: missing.length,
      });
    }
  }

  /**
   * Ships everything queued (one flush at a time); on failure keeps it for the next try.
   *
   * @returns When the queue was sent or the attempt failed.
   */
  flush(): Promise<void> {
    return this.#flushing ??= (async () => {
      // Yield first: a body that finished without awaiting would clear `#flushing`
      // before `??=` stores this promise, and no flush would ever run again.
      await Promise.resolve();
      try {
        if (this.#dropped) {
          this.#dropped = false;
          await this.catchUp().catch((error) => {
            this.#dropped = true;
            throw error;
          });
        }
        while (this.#queue.length > 0) {
          const batch = this.#queue.slice(0, this.#options.batch ?? 500);
          await this.#insert(batch);
          this.#queue.splice(0, batch.length);
        }
      } catch (error) {
        // An outage is logged by the client; anything else is worth a line. The timer retries.
        if (!(error instanceof StateUnavailableError)) {
          log.error("Cannot ship audit records to the mirror: {error}", {
            error: (error as Error).message,
          });
        }
      } finally {
        this.#flushing = undefined;
      }
    })();
  }

  async #insert(rows: Row[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      await this.#db.run(
        "ship audit records",
        (sql) =>
          sql`INSERT INTO tailops_audit_mirror ${sql(chunk, "gateway", "seq", "hash", "line")}
            ON CONFLICT DO NOTHING`,
        { idempotent: true },
      );
      this.#shipped += chunk.length;
    }
  }

  /** Stops the retry timer after a last flush attempt. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }
}
