/**
 * The audit log writer: an append-only, hash-chained JSONL file with group
 * commit. If it cannot write, it fails closed.
 *
 * @module
 */
import { dirname } from "node:path";
import { readTail } from "./_read_tail.ts";
import {
  type AuditEntry,
  auditEntrySchema,
  type AuditRecord,
  formatRecord,
  hashRecord,
} from "./record.ts";
import { redact, SecretScanner } from "./redact.ts";
import { AuditError } from "./audit_error.ts";
import type { AppendOptions, AuditLogOptions, AuditSink, FsyncMode } from "./writer_options.ts";

export { AuditError } from "./audit_error.ts";
export type { AppendOptions, AuditLogOptions, AuditSink, FsyncMode } from "./writer_options.ts";

interface Pending {
  entry: AuditEntry;
  time: string;
  /** Resolve after the batch's sync (else after its write). */
  durable: boolean;
  resolve(record: AuditRecord): void;
  reject(error: unknown): void;
}

const encoder = new TextEncoder();

/**
 * An open audit log. Records are hash-chained: each holds the `hash` of the
 * one before, so editing, deleting or reordering any line breaks the chain
 * (see `verifyAuditFile`). Appends are safe to call concurrently: records get
 * gap-free `seq` numbers in the order `append` was called.
 *
 * @example
 * ```ts
 * const log = await AuditLog.open(".tailops/audit.jsonl");
 * await log.append({ event: "started" });
 * await log.close();
 * ```
 */
export class AuditLog {
  /** The file's path. */
  readonly path: string;
  /** Bytes of an incomplete last line removed at open (`onCorruptTail: "truncate"`). */
  readonly droppedTailBytes: number;
  #sink: AuditSink;
  #fsync: FsyncMode;
  #clock: () => Date;
  #scanner: SecretScanner;
  #seq: number;
  #hash: string;
  #queue: Pending[] = [];
  #pumping: Promise<void> | undefined;
  #failure: AuditError | undefined;
  #closed = false;

  private constructor(
    path: string,
    sink: AuditSink,
    tail: { seq: number; hash: string },
    options: AuditLogOptions & { droppedTailBytes: number },
  ) {
    this.path = path;
    this.#sink = sink;
    this.#seq = tail.seq;
    this.#hash = tail.hash;
    this.#fsync = options.fsync ?? "batch";
    this.#clock = options.clock ?? (() => new Date());
    this.#scanner = toScanner(options.secrets);
    this.droppedTailBytes = options.droppedTailBytes;
  }

  /**
   * Opens a log for appending, creating it (mode 0600, parent directory 0700)
   * when missing. An existing log's last record is read and checked so the
   * chain continues from it. The file is locked: a second writer is refused.
   *
   * Needs `read` and `write` permission for the path.
   *
   * @param path The log file.
   * @param options Sync mode, clock, tail repair, secrets.
   * @returns The open log.
   * @throws {AuditError} When the file cannot be opened or locked, or its last line is corrupt.
   */
  static async open(path: string, options: AuditLogOptions = {}): Promise<AuditLog> {
    let file: Deno.FsFile;
    try {
      await Deno.mkdir(dirname(path), { recursive: true, mode: 0o700 });
      file = await Deno.open(path, { read: true, append: true, create: true, mode: 0o600 });
    } catch (cause) {
      throw new AuditError(`Cannot open audit log "${path}": ${describe(cause)}`, { cause });
    }
    try {
      if (!await file.tryLock(true)) {
        throw new AuditError(
          `Cannot open audit log "${path}": expected no other writer, found the file locked`,
        );
      }
      const tail = await readTail(file, options.onCorruptTail === "truncate");
      const sink = options.wrapFile ? options.wrapFile(file) : file;
      return new AuditLog(path, sink, tail, { ...options, droppedTailBytes: tail.droppedBytes });
    } catch (cause) {
      file.close();
      if (cause instanceof AuditError) throw cause;
      throw new AuditError(`Cannot open audit log "${path}": ${describe(cause)}`, { cause });
    }
  }

  /** The `seq` of the last record written (0 for an empty log). */
  get seq(): number {
    return this.#seq;
  }

  /** The `hash` of the last record written. */
  get lastHash(): string {
    return this.#hash;
  }

  /** The error that stopped the log, when a write or sync has failed. */
  get failure(): AuditError | undefined {
    return this.#failure;
  }

  /**
   * Replaces the secret values masked in later records (after a config reload).
   *
   * @param secrets Secret values or a scanner built from them.
   */
  setSecrets(secrets: readonly string[] | SecretScanner): void {
    this.#scanner = toScanner(secrets);
  }

  /**
   * Appends one record. `args` and `detail` are redacted first; `seq`,
   * `time`, `prev` and `hash` are filled in. Resolves once the record is
   * written (and synced, unless `fsync` is `"never"` or, in `"batch"` mode,
   * `options.durable` is `false`).
   *
   * @param entry The record's fields.
   * @param options `durable: false` resolves before the batch's sync (see {@linkcode AppendOptions}).
   * @returns The record as written.
   * @throws {TypeError} (as a rejection) When the entry does not match the record schema.
   * @throws {AuditError} (as a rejection) When the log is closed, has failed, or this write fails.
   */
  append(entry: AuditEntry, options: AppendOptions = {}): Promise<AuditRecord> {
    if (this.#failure) {
      const message = `Cannot append to audit log "${this.path}": expected a working log, ` +
        `found that an earlier write failed (${describe(this.#failure.cause)})`;
      return Promise.reject(new AuditError(message, { cause: this.#failure }));
    }
    if (this.#closed) {
      return Promise.reject(
        new AuditError(
          `Cannot append to audit log "${this.path}": expected an open log, found it closed`,
        ),
      );
    }
    let pending: Omit<Pending, "resolve" | "reject">;
    try {
      pending = {
        entry: this.#prepare(entry),
        time: this.#clock().toISOString(),
        durable: options.durable !== false || this.#fsync === "always",
      };
    } catch (error) {
      return Promise.reject(error);
    }
    const { promise, resolve, reject } = Promise.withResolvers<AuditRecord>();
    this.#queue.push({ ...pending, resolve, reject });
    this.#pumping ??= this.#pump();
    return promise;
  }

  /**
   * Waits for accepted appends to finish, then closes the file. Later appends
   * are refused. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pumping;
    try {
      this.#sink.close();
    } catch {
      // Already closed or failed; nothing more can be lost.
    }
  }

  #prepare(entry: AuditEntry): AuditEntry {
    const redacted: Record<string, unknown> = { ...entry };
    if (entry.args !== undefined) redacted.args = redact(entry.args, { secrets: this.#scanner });
    if (entry.detail !== undefined) {
      redacted.detail = redact(entry.detail, { secrets: this.#scanner });
    }
    for (const key of Object.keys(redacted)) if (redacted[key] === undefined) delete redacted[key];
    const result = auditEntrySchema.safeParse(redacted);
    if (!result.success) {
      const issue = result.error.issues[0];
      throw new TypeError(
        `Cannot append audit record: invalid ${issue.path.join(".") || "entry"}: ${issue.message}`,
      );
    }
    // The redacted object (not zod's copy) keeps a literal "__proto__" field as data.
    return redacted as AuditEntry;
  }

  /** Writes batches until the queue is empty; one runs at a time. */
  async #pump(): Promise<void> {
    // Yield once, so appends made in the same tick share the first batch and
    // `#pumping` is set before this function can clear it.
    await Promise.resolve();
    while (this.#queue.length > 0 && !this.#failure) {
      const batch = this.#fsync === "always" ? this.#queue.splice(0, 1) : this.#queue.splice(0);
      const records: [Pending, AuditRecord][] = [];
      const lines: string[] = [];
      let seq = this.#seq, prev = this.#hash;
      for (const item of batch) {
        const body = { seq: seq + 1, time: item.time, ...item.entry, prev };
        try {
          const record = { ...body, hash: await hashRecord(body) };
          lines.push(formatRecord(record), "\n");
          records.push([item, record]);
          seq = record.seq;
          prev = record.hash;
        } catch (error) {
          item.reject(error);
        }
      }
      if (records.length === 0) continue;
      let written = false;
      try {
        await writeAll(this.#sink, encoder.encode(lines.join("")));
        written = true;
        // Records nothing waits on resolve now; their sync below still runs.
        for (const [item, record] of records) if (!item.durable) item.resolve(record);
        if (this.#fsync !== "never") await this.#sink.syncData();
      } catch (cause) {
        this.#failure = new AuditError(
          `Cannot write audit log "${this.path}": ${describe(cause)}`,
          { cause },
        );
        for (const [item] of records) if (item.durable || !written) item.reject(this.#failure);
        for (const item of this.#queue.splice(0)) item.reject(this.#failure);
        break;
      }
      this.#seq = seq;
      this.#hash = prev;
      for (const [item, record] of records) if (item.durable) item.resolve(record);
    }
    this.#pumping = undefined;
  }
}

async function writeAll(sink: AuditSink, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    const written = await sink.write(bytes.subarray(offset));
    if (written <= 0) {
      throw new Error(`expected to write ${bytes.length - offset} bytes, wrote none`);
    }
    offset += written;
  }
}

function toScanner(secrets: readonly string[] | SecretScanner | undefined): SecretScanner {
  return secrets instanceof SecretScanner ? secrets : new SecretScanner(secrets ?? []);
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
