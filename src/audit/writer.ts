/**
 * The audit log writer: an append-only, hash-chained JSONL file with group
 * commit. If it cannot write, it fails closed.
 *
 * @module
 */
import { dirname } from "node:path";
import { getLogger } from "@logtape/logtape";
import { readTail } from "./_read_tail.ts";
import {
  readAnchor,
  type SetAside,
  setAsideTornBytes,
  writeAll,
  writeAllSync,
  writeAnchor,
} from "./_side_files.ts";
import {
  type CheckpointOptions,
  DEFAULT_CHECKPOINT_MS,
  DEFAULT_CHECKPOINT_RECORDS,
  signCheckpoint,
} from "./checkpoint.ts";
import {
  type AuditEntry,
  auditEntrySchema,
  type AuditRecord,
  formatRecord,
  hashRecord,
  hashRecordSync,
} from "./record.ts";
import { redact, SecretScanner } from "./redact.ts";
import { AuditError, AuditLockedError } from "./audit_error.ts";
import type { AppendOptions, AuditLogOptions, AuditSink, FsyncMode } from "./writer_options.ts";

export { AuditError, AuditLockedError } from "./audit_error.ts";
export type { AppendOptions, AuditLogOptions, AuditSink, FsyncMode } from "./writer_options.ts";

/** Builds an entry from the chain head at write time (checkpoints sign the head). */
type EntryBuilder = (head: { seq: number; hash: string }) => Promise<AuditEntry>;

interface Pending {
  entry: AuditEntry | EntryBuilder;
  time: string;
  /** Resolve after the batch's sync (else after its write). */
  durable: boolean;
  /** Append order: held records are written back in it. */
  order: number;
  resolve(record: AuditRecord): void;
  reject(error: unknown): void;
}

/** Why the log stopped, and whether it may come back by itself. */
interface Failure {
  error: AuditError;
  /** A write or sync failed (disk full, I/O error): retried. */
  recoverable: boolean;
  since: string;
  /** Appends refused while failed (calls that did not run, records not kept). */
  refused: number;
}

/** The head of the chain: last record's `seq` and `hash`, records since the last checkpoint. */
interface Head {
  seq: number;
  hash: string;
  uncovered: number;
}

/** Default for {@linkcode AuditLogOptions.lazySyncMs}. */
export const DEFAULT_LAZY_SYNC_MS = 5;

const encoder = new TextEncoder();
const log = getLogger(["tailops", "audit"]);
const ignore = () => {};

/**
 * An open audit log. Records are hash-chained: each holds the `hash` of the
 * one before, so editing, deleting or reordering any line breaks the chain
 * (see `verifyAuditFile`). Appends are safe to call concurrently: records get
 * gap-free `seq` numbers in the order `append` was called.
 *
 * The log fails closed: when a write or sync fails, or its file is removed or
 * replaced under it, every later append is refused. A failed write (a full
 * disk) is retried every `monitorMs`; once a write succeeds again the log
 * cuts off what the failed write left, writes a `log_recovered` record that
 * describes the gap, then the records it held, and accepts appends again. A
 * removed or replaced file is never written again by this process.
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
  /** Bytes of an incomplete last line removed at open (`onCorruptTail: "truncate"` or `"set_aside"`). */
  readonly droppedTailBytes: number;
  #file: Deno.FsFile;
  #sink: AuditSink;
  #fsync: FsyncMode;
  #clock: () => Date;
  #scanner: SecretScanner;
  #seq: number;
  #hash: string;
  /** File size after the last sync that succeeded: where a failed write or sync is cut off. */
  #goodSize: number;
  /** File size after the last write (synced or not). */
  #writtenSize: number;
  /** The chain head as written (ahead of `#seq`/`#hash`, which are synced). */
  #head: Head;
  #identity: { dev: number; ino: number | null };
  #queue: Pending[] = [];
  #order = 0;
  #pumping: Promise<void> | undefined;
  /** Records written and not yet synced, in chain order. */
  #unsynced: [Pending, AuditRecord][] = [];
  #syncing: Promise<void> | undefined;
  #lazyTimer: ReturnType<typeof setTimeout> | undefined;
  #lazySyncMs: number;
  #failure: Failure | undefined;
  #held: AuditEntryAt[] = [];
  #heldDropped = 0;
  #maxHeld: number;
  #closed = false;
  #checkpoint: CheckpointOptions | undefined;
  /** Records written since the last checkpoint, and when the first of them was. */
  #uncovered = 0;
  #uncoveredSince = 0;
  #checkpointQueued = false;
  #monitor: ReturnType<typeof setInterval>;
  #anchor: string | undefined;
  #recordListeners: ((record: AuditRecord) => void)[] = [];

  private constructor(
    path: string,
    file: Deno.FsFile,
    sink: AuditSink,
    state: { tail: { seq: number; hash: string }; size: number; stat: Deno.FileInfo },
    options: AuditLogOptions & { droppedTailBytes: number },
  ) {
    this.path = path;
    this.#file = file;
    this.#sink = sink;
    this.#seq = state.tail.seq;
    this.#hash = state.tail.hash;
    this.#goodSize = state.size;
    this.#writtenSize = state.size;
    this.#head = { seq: state.tail.seq, hash: state.tail.hash, uncovered: 0 };
    this.#lazySyncMs = options.lazySyncMs ?? DEFAULT_LAZY_SYNC_MS;
    this.#identity = { dev: state.stat.dev, ino: state.stat.ino };
    this.#fsync = options.fsync ?? "batch";
    this.#clock = options.clock ?? (() => new Date());
    this.#scanner = toScanner(options.secrets);
    this.#maxHeld = options.maxHeld ?? 10_000;
    this.#checkpoint = options.checkpoint;
    this.#anchor = options.anchor;
    this.droppedTailBytes = options.droppedTailBytes;
    const monitorMs = options.monitorMs ?? 1000;
    this.#monitor = setInterval(() => this.#watch(), monitorMs);
    Deno.unrefTimer(this.#monitor as unknown as number);
  }

  /**
   * Opens a log for appending, creating it (mode 0600, parent directory 0700)
   * when missing. An existing log's last record is read and checked so the
   * chain continues from it. The file is locked: a second writer is refused.
   *
   * Needs `read` and `write` permission for the path (and its directory, for
   * `onCorruptTail: "set_aside"`).
   *
   * @param path The log file.
   * @param options Sync mode, clock, tail repair, secrets, checkpoints.
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
    let log: AuditLog;
    let setAside: SetAside | undefined;
    try {
      if (!await file.tryLock(true)) {
        throw new AuditLockedError(
          `Cannot open audit log "${path}": expected no other writer, found the file locked`,
        );
      }
      const mode = options.onCorruptTail ?? "refuse";
      const repair = mode === "set_aside"
        ? async (bytes: Uint8Array) => {
          setAside = await setAsideTornBytes(path, bytes, options.clock?.() ?? new Date());
        }
        : mode === "truncate";
      const tail = await readTail(file, repair);
      const stat = await file.stat();
      const sink = options.wrapFile ? options.wrapFile(file) : file;
      log = new AuditLog(path, file, sink, { tail, size: stat.size, stat }, {
        ...options,
        droppedTailBytes: tail.droppedBytes,
      });
    } catch (cause) {
      file.close();
      if (cause instanceof AuditError) throw cause;
      throw new AuditError(`Cannot open audit log "${path}": ${describe(cause)}`, { cause });
    }
    const anchor = options.anchor === undefined ? undefined : await readAnchor(options.anchor);
    const found = log.seq;
    if (setAside) {
      try {
        await log.append({
          event: "tail_repaired",
          detail: {
            found: "an incomplete last line (a write cut short by a crash or a full disk)",
            bytes: setAside.bytes,
            sha256: setAside.sha256,
            kept_in: setAside.file,
          },
        });
      } catch (cause) {
        await log.close();
        throw cause;
      }
    }
    if (anchor && anchor.seq > found) {
      try {
        await log.append({
          event: "log_shortened",
          detail: {
            found_seq: found,
            signed_seq: anchor.seq,
            signed_hash: anchor.hash,
            signed_at: anchor.time,
          },
        });
      } catch (cause) {
        await log.close();
        throw cause;
      }
    }
    return log;
  }

  /** The `seq` of the last record written (0 for an empty log). */
  get seq(): number {
    return this.#seq;
  }

  /** The `hash` of the last record written. */
  get lastHash(): string {
    return this.#hash;
  }

  /** The error that stopped the log, while it is stopped (a write failed, or the file vanished). */
  get failure(): AuditError | undefined {
    return this.#failure?.error;
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
   * While the log has failed, every append is refused; a record nothing waits
   * on (`durable: false`) is also kept, up to `maxHeld`, and written after
   * the log recovers (the rejection's {@linkcode AuditError.held} says so).
   *
   * @param entry The record's fields.
   * @param options `durable: false` resolves before the batch's sync (see {@linkcode AppendOptions}).
   * @returns The record as written.
   * @throws {TypeError} (as a rejection) When the entry does not match the record schema.
   * @throws {AuditError} (as a rejection) When the log is closed, has failed, or this write fails.
   */
  append(entry: AuditEntry, options: AppendOptions = {}): Promise<AuditRecord> {
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
        order: this.#order++,
      };
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.#failure) {
      this.#failure.refused++;
      const held = options.durable === false && this.#hold(pending);
      return Promise.reject(this.#refusal(held));
    }
    const { promise, resolve, reject } = Promise.withResolvers<AuditRecord>();
    this.#queue.push({ ...pending, resolve, reject });
    this.#pumping ??= this.#pump();
    return promise;
  }

  /**
   * Signs the chain head now (when checkpoints are configured and records
   * were written since the last one).
   *
   * @returns The checkpoint record, or `undefined` when none was due.
   * @throws {AuditError} (as a rejection) When the log cannot be written.
   */
  checkpoint(): Promise<AuditRecord | undefined> {
    if (!this.#checkpoint || this.#uncovered === 0 || this.#checkpointQueued) {
      return Promise.resolve(undefined);
    }
    return this.#enqueueCheckpoint(false);
  }

  /**
   * Waits for accepted appends to finish, writes a final checkpoint (when
   * checkpoints are configured and the log works), then closes the file.
   * Later appends are refused. Calling it again does nothing.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#monitor);
    if (this.#checkpoint && !this.#failure) {
      await this.#enqueueCheckpoint(true).catch(ignore);
    }
    this.#closed = true;
    // A recovery in flight may start one more pump for the records it held, a
    // pump may start a sync, and written records may wait for a lazy sync: wait for all.
    for (;;) {
      if (this.#pumping) await this.#pumping;
      else if (this.#unsynced.length > 0 && !this.#failure) await this.#requestSync();
      else if (this.#syncing) await this.#syncing;
      else break;
    }
    clearTimeout(this.#lazyTimer);
    try {
      this.#sink.close();
    } catch {
      // Already closed or failed; nothing more can be lost.
    }
  }

  #enqueueCheckpoint(final: boolean): Promise<AuditRecord> {
    const signer = this.#checkpoint!.signer;
    const { promise, resolve, reject } = Promise.withResolvers<AuditRecord>();
    this.#checkpointQueued = true;
    this.#queue.push({
      entry: async (head) => ({
        event: "checkpoint",
        checkpoint: await signCheckpoint(signer, { seq: head.seq, head: head.hash, final }),
      }),
      time: this.#clock().toISOString(),
      durable: true,
      order: this.#order++,
      resolve,
      reject,
    });
    this.#pumping ??= this.#pump();
    return promise;
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

  /** Keeps a record to write after recovery, in append order; false when the hold is full. */
  #hold(item: { entry: AuditEntry | EntryBuilder; time: string; order: number }): boolean {
    if (typeof item.entry === "function") return false;
    if (!this.#failure?.recoverable || this.#held.length >= this.#maxHeld) {
      this.#heldDropped++;
      return false;
    }
    // A written record whose sync failed is held after a later one whose write failed.
    let at = this.#held.length;
    while (at > 0 && this.#held[at - 1].order > item.order) at--;
    this.#held.splice(at, 0, { entry: item.entry, time: item.time, order: item.order });
    return true;
  }

  #refusal(held: boolean, own?: AuditError): AuditError {
    const failure = this.#failure!;
    if (own && !held) return own;
    const error = own ? new AuditError(own.message, { cause: own.cause }) : new AuditError(
      `Cannot append to audit log "${this.path}": expected a working log, ` +
        `found it stopped since ${failure.since} (${describe(failure.error.cause)})`,
      { cause: failure.error },
    );
    error.held = held;
    return error;
  }

  /** Stops the log; rejects what is queued (holding records nothing waits on). */
  #fail(error: AuditError, recoverable: boolean): void {
    if (this.#failure) return;
    this.#failure = { error, recoverable, since: this.#clock().toISOString(), refused: 0 };
    this.#checkpointQueued = false;
    log.error("Audit log stopped; calls are refused: {error}", { error: error.message });
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    // Written but not synced: cut off at recovery. A sync in flight settles its own first.
    if (!this.#syncing) this.#dropUnsynced(this.#unsynced.splice(0), error);
    for (const item of this.#queue.splice(0)) {
      this.#failure.refused++;
      const held = !item.durable && this.#hold(item);
      item.reject(this.#refusal(held, error));
    }
  }

  /**
   * Written records the log will cut off (their sync failed or never ran):
   * a durable one was never confirmed, so its append is refused; one that
   * already resolved is held and written again after recovery.
   */
  #dropUnsynced(items: [Pending, AuditRecord][], error: AuditError): void {
    for (const [item] of items) {
      if (item.durable) {
        this.#failure!.refused++;
        item.reject(this.#refusal(false, error));
      } else this.#hold(item);
    }
  }

  /** Checks that the path still names the open file; stops the log when it does not. */
  #checkFile(): boolean {
    let problem: string | undefined;
    try {
      const open = this.#file.statSync();
      if (open.nlink === 0) problem = "the file was removed (unlinked) while open";
      else if (open.size < this.#goodSize) {
        problem =
          `the file was truncated while open (${open.size} bytes, expected at least ${this.#goodSize})`;
      } else {
        const now = Deno.statSync(this.path);
        if (now.dev !== this.#identity.dev || now.ino !== this.#identity.ino) {
          problem = "the path now names another file (the log was moved or replaced)";
        }
      }
    } catch (cause) {
      problem = cause instanceof Deno.errors.NotFound
        ? "the file was removed or moved away while open"
        : `the file cannot be checked (${describe(cause)})`;
    }
    if (problem === undefined) return true;
    const error = new AuditError(
      `Cannot write audit log "${this.path}": expected the file the gateway opened, found that ${problem}`,
      { cause: new Error(problem) },
    );
    if (this.#failure) this.#failure.recoverable = false;
    else this.#fail(error, false);
    return false;
  }

  /** The monitor tick: file identity, recovery, timed checkpoints. */
  #watch(): void {
    if (this.#closed || this.#pumping || this.#syncing) return;
    if (this.#failure) {
      if (this.#failure.recoverable) this.#pumping = this.#recover();
      return;
    }
    if (!this.#checkFile()) return;
    const every = this.#checkpoint?.everyMs ?? DEFAULT_CHECKPOINT_MS;
    if (this.#uncovered > 0 && performance.now() - this.#uncoveredSince >= every) {
      this.checkpoint().catch(ignore);
    }
  }

  /** One recovery attempt: cut off the failed write, record the gap, write what was held. */
  async #recover(): Promise<void> {
    // Yield first: the caller stores this promise in `#pumping`, which `finally` clears.
    await Promise.resolve();
    const failure = this.#failure!;
    try {
      if (!this.#checkFile()) return;
      const size = (await this.#file.stat()).size;
      if (size !== this.#goodSize) await this.#file.truncate(this.#goodSize);
      this.#writtenSize = this.#goodSize;
      this.#head = { seq: this.#seq, hash: this.#hash, uncovered: this.#uncovered };
      const body = {
        seq: this.#seq + 1,
        time: this.#clock().toISOString(),
        ...this.#prepare({
          event: "log_recovered",
          detail: {
            stopped_at: failure.since,
            error: describe(failure.error.cause),
            dropped_bytes: size - this.#goodSize,
            refused: failure.refused,
            held: this.#held.length,
            not_held: this.#heldDropped,
          },
        }),
        prev: this.#hash,
      };
      const record = { ...body, hash: await hashRecord(body) };
      const bytes = encoder.encode(`${formatRecord(record)}\n`);
      await writeAll(this.#sink, bytes);
      if (this.#fsync !== "never") await this.#sink.syncData();
      this.#commit(record);
      this.#goodSize += bytes.length;
      this.#writtenSize = this.#goodSize;
      this.#head = { seq: record.seq, hash: record.hash, uncovered: this.#uncovered };
      log.warn("Audit log writable again after {refused} refused records; {held} held follow", {
        refused: failure.refused,
        held: this.#held.length,
      });
    } catch {
      // Still failing; the next tick retries.
      return;
    } finally {
      this.#pumping = undefined;
    }
    this.#failure = undefined;
    this.#heldDropped = 0;
    const held = this.#held.splice(0);
    this.#queue.unshift(
      ...held.map((item) => ({ ...item, durable: false, resolve: ignore, reject: ignore })),
    );
    if (this.#queue.length > 0) this.#pumping ??= this.#pump();
  }

  /**
   * Hears every record once it is written, in chain order (the shared audit
   * mirror ships them). A listener must not throw or block.
   *
   * @param listener Called with each record after it is in the file.
   */
  onRecord(listener: (record: AuditRecord) => void): void {
    this.#recordListeners.push(listener);
  }

  #commit(record: AuditRecord): void {
    this.#seq = record.seq;
    this.#hash = record.hash;
    for (const listener of this.#recordListeners) listener(record);
    if (record.event === "checkpoint") {
      this.#uncovered = 0;
      this.#checkpointQueued = false;
      if (this.#anchor) writeAnchor(this.#anchor, record);
      this.#checkpoint?.onCheckpoint?.(record);
    } else if (this.#uncovered++ === 0) {
      this.#uncoveredSince = performance.now();
    }
  }

  /**
   * Writes batches until the queue is empty; one runs at a time. A batch is
   * written at once (with one synchronous write when the sink has one: an
   * async write costs a hop to the blocking pool), then handed to
   * {@linkcode AuditLog.#syncLoop}: the next batch may be written while the
   * last one is being synced.
   */
  async #pump(): Promise<void> {
    // Yield once, so appends made in the same tick share the first batch and
    // `#pumping` is set before this function can clear it.
    await Promise.resolve();
    while (this.#queue.length > 0 && !this.#failure && this.#checkFile()) {
      const batch = this.#fsync === "always" ? this.#queue.splice(0, 1) : this.#queue.splice(0);
      // A queued checkpoint taken off the queue: from here the count decides the next one.
      if (batch.some((item) => typeof item.entry === "function")) this.#checkpointQueued = false;
      const records: [Pending, AuditRecord][] = [];
      const lines: string[] = [];
      let { seq, hash: prev, uncovered } = this.#head;
      const addBuilt = (item: Pending, entry: AuditEntry) => {
        const body = { seq: seq + 1, time: item.time, ...entry, prev };
        const record = { ...body, hash: hashRecordSync(body) };
        lines.push(formatRecord(record), "\n");
        records.push([item, record]);
        seq = record.seq;
        prev = record.hash;
        uncovered = record.event === "checkpoint" ? 0 : uncovered + 1;
      };
      // Only checkpoints are built asynchronously (they sign the head).
      const add = async (item: Pending) =>
        addBuilt(
          item,
          typeof item.entry === "function" ? await item.entry({ seq, hash: prev }) : item.entry,
        );
      for (const item of batch) {
        try {
          if (typeof item.entry === "function") await add(item);
          else addBuilt(item, item.entry);
        } catch (error) {
          item.reject(error);
        }
      }
      const every = this.#checkpoint?.everyRecords ?? DEFAULT_CHECKPOINT_RECORDS;
      if (this.#checkpoint && uncovered >= every && !this.#checkpointQueued) {
        const signer = this.#checkpoint.signer;
        await add({
          entry: async (head) => ({
            event: "checkpoint",
            checkpoint: await signCheckpoint(signer, {
              seq: head.seq,
              head: head.hash,
              final: false,
            }),
          }),
          time: this.#clock().toISOString(),
          durable: true,
          order: this.#order++,
          resolve: ignore,
          reject: ignore,
        }).catch((error) =>
          log.error("Cannot sign audit checkpoint: {error}", { error: describe(error) })
        );
      }
      if (records.length === 0) continue;
      const bytes = encoder.encode(lines.join(""));
      try {
        if (this.#sink.writeSync) writeAllSync(this.#sink, bytes);
        else await writeAll(this.#sink, bytes);
      } catch (cause) {
        const error = new AuditError(`Cannot write audit log "${this.path}": ${describe(cause)}`, {
          cause,
        });
        this.#fail(error, true);
        // Cut off at recovery: nothing here resolved; hold what nothing waits on.
        for (const [item] of records) {
          this.#failure!.refused++;
          const held = !item.durable && this.#hold(item);
          item.reject(this.#refusal(held, error));
        }
        break;
      }
      this.#head = { seq, hash: prev, uncovered };
      this.#writtenSize += bytes.length;
      if (this.#fsync === "never") {
        this.#goodSize = this.#writtenSize;
        for (const [, record] of records) this.#commit(record);
        for (const [item, record] of records) item.resolve(record);
        continue;
      }
      // Records nothing waits on resolve now; their sync still runs.
      for (const [item, record] of records) if (!item.durable) item.resolve(record);
      this.#unsynced.push(...records);
      if (records.some(([item]) => item.durable)) {
        const synced = this.#requestSync();
        if (this.#fsync === "always") await synced;
      } else this.#scheduleLazySync();
    }
    this.#pumping = undefined;
  }

  /** Starts syncing now (a durable record waits), or joins the sync loop running. */
  #requestSync(): Promise<void> {
    clearTimeout(this.#lazyTimer);
    this.#lazyTimer = undefined;
    return this.#syncing ??= this.#syncLoop();
  }

  /**
   * Written records that nothing waits on ride the next sync a durable
   * record starts, or are synced after `lazySyncMs`, whichever comes first:
   * a call that must wait for its own sync never waits for one started only
   * for such records.
   */
  #scheduleLazySync(): void {
    if (this.#syncing || this.#lazyTimer !== undefined) return;
    this.#lazyTimer = setTimeout(() => {
      this.#lazyTimer = undefined;
      if (!this.#failure) this.#syncing ??= this.#syncLoop();
    }, this.#lazySyncMs);
  }

  /**
   * Syncs written records until none waits, one `fdatasync` at a time: each
   * covers every record written before it started (group commit). Then the
   * records are committed (the chain head moves, listeners hear them) and
   * durable appends resolve.
   */
  async #syncLoop(): Promise<void> {
    // Yield once, so `#syncing` is set before this function can clear it.
    await Promise.resolve();
    while (this.#unsynced.length > 0 && !this.#failure) {
      const batch = this.#unsynced.splice(0);
      const size = this.#writtenSize;
      try {
        await this.#sink.syncData();
      } catch (cause) {
        const error = new AuditError(`Cannot write audit log "${this.path}": ${describe(cause)}`, {
          cause,
        });
        this.#fail(error, true);
        this.#dropUnsynced(batch, error);
        break;
      }
      this.#goodSize = size;
      for (const [, record] of batch) this.#commit(record);
      for (const [item, record] of batch) if (item.durable) item.resolve(record);
      // Only records nothing waits on are left: they ride a later sync.
      if (!this.#unsynced.some(([item]) => item.durable)) break;
    }
    // The log failed while this loop ran (a write, or the file vanished): what follows is cut off.
    if (this.#failure) this.#dropUnsynced(this.#unsynced.splice(0), this.#failure.error);
    this.#syncing = undefined;
    if (this.#unsynced.length > 0) this.#scheduleLazySync();
  }
}

/** A held record: its entry, the time it was appended and its append order. */
interface AuditEntryAt {
  entry: AuditEntry;
  time: string;
  order: number;
}

function toScanner(secrets: readonly string[] | SecretScanner | undefined): SecretScanner {
  return secrets instanceof SecretScanner ? secrets : new SecretScanner(secrets ?? []);
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
