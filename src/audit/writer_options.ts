/**
 * Options of the audit log writer: sync mode, clock, tail repair, secrets and
 * the file seam tests use to inject failures.
 *
 * @module
 */
import type { CheckpointOptions } from "./checkpoint.ts";
import type { SecretScanner } from "./secret_scanner.ts";

/** The parts of an open file the writer uses; tests may wrap them to inject failures. */
export interface AuditSink {
  /** Writes some bytes at the end of the file; returns how many were written. */
  write(data: Uint8Array): Promise<number>;
  /**
   * The same, synchronously; used instead of `write` when present (a small
   * write costs ~1 µs this way against 40–80 µs through the blocking pool).
   */
  writeSync?(data: Uint8Array): number;
  /** Flushes written data to the device. */
  syncData(): Promise<void>;
  /** Closes the file. */
  close(): void;
}

/**
 * When appends reach the disk. Every mode writes records in order and never
 * reorders or drops an accepted one.
 *
 * - `"batch"` (default): group commit. Records are written as they come (the
 *   appends of one tick in one write), also while an `fdatasync` is in
 *   flight; one `fdatasync` at a time then covers everything written before
 *   it started. A durable append resolves only once a sync covers it, so it
 *   survives a crash or power loss; throughput grows with concurrency while
 *   the cost per call stays about one sync latency. An append made with
 *   `{ durable: false }` (a `finished` record, an observe call's `decided`
 *   record) resolves once written, survives a crash of the gateway at once,
 *   and rides the next sync a durable record starts, or is synced after
 *   `lazySyncMs` (default 5 ms) when none comes; a failed sync still stops
 *   the log, and such a record is then written again after recovery.
 * - `"always"`: one write and one `fdatasync` per record, one record at a
 *   time, and every append waits for its sync (`durable: false` is ignored).
 *   The same guarantee, with throughput capped at one record per sync
 *   latency; use only when a failed sync must never take other records with it.
 * - `"never"`: no `fdatasync`; an append resolves once the kernel has the
 *   bytes. Survives a crash of the gateway but not of the machine, which may
 *   lose the last records. For tests and benchmarks.
 */
export type FsyncMode = "always" | "batch" | "never";

/** Options of one `AuditLog.append`. */
export interface AppendOptions {
  /**
   * `true` (default): resolve once the record is synced to the device (in
   * `"batch"` and `"always"` mode). `false`: resolve once it is written to
   * the file, before its batch's `fdatasync`, which still runs; the record
   * survives a crash of the gateway at once and a power loss after that
   * sync. For records nothing waits on, such as a call's `finished` record,
   * and the `decided` record of a call that changes nothing: the `decided`
   * record of a call that may change something is always durable.
   */
  durable?: boolean;
}

/** How `AuditLog.open` opens a log. */
export interface AuditLogOptions {
  /** When appends reach the disk; see {@linkcode FsyncMode}. Default `"batch"`. */
  fsync?: FsyncMode;
  /** The time source for record timestamps (injectable for tests). Default `() => new Date()`. */
  clock?: () => Date;
  /**
   * What to do when the file ends in an incomplete line (a write cut short
   * by a crash or a full disk): `"refuse"` (default) throws, `"truncate"`
   * cuts the line off and continues from the record before it
   * (`AuditLog.droppedTailBytes` says how much was cut), `"set_aside"` first
   * copies the cut bytes to a file next to the log (`audit.jsonl.torn-TIME`)
   * and then continues the chain with a `tail_repaired` record that names
   * that file, its size and SHA-256. A complete but invalid last line is
   * always refused.
   */
  onCorruptTail?: "refuse" | "truncate" | "set_aside";
  /**
   * A file where the log keeps the `seq`, `hash` and time of its last
   * checkpoint. At open, a log that ends before that checkpoint (records
   * removed, or the file deleted or replaced while the gateway was down)
   * gets a `log_shortened` record saying what was signed and what was found.
   */
  anchor?: string;
  /** Sign the chain head at intervals and at close (see {@linkcode CheckpointOptions}). */
  checkpoint?: CheckpointOptions;
  /**
   * How often (ms) the open log checks that its file is still the one at its
   * path, retries a failed log, and writes a timed checkpoint. Default 1000.
   */
  monitorMs?: number;
  /**
   * Records nothing waits on (`durable: false`, e.g. a call's `finished`
   * record) that the log keeps while it cannot write, to write them after it
   * recovers. Default 10000; more are counted in the `log_recovered` record.
   */
  maxHeld?: number;
  /**
   * In `"batch"` mode, how long (ms) written records nothing waits on
   * (`durable: false`) may stay unsynced when no durable record starts a
   * sync sooner: the window a power cut (not a crash) can lose them in.
   * Default 5.
   */
  lazySyncMs?: number;
  /** Known secret values, masked in `args` and `detail`. */
  secrets?: readonly string[] | SecretScanner;
  /** Wraps the opened file (tests use it to make writes or syncs fail). */
  wrapFile?: (file: AuditSink) => AuditSink;
}
