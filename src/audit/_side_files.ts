/**
 * Files the audit writer keeps beside its log: torn bytes set aside at open
 * (`audit.jsonl.torn-TIME`) and the anchor naming the last checkpoint.
 * Private to `src/audit`.
 *
 * @module
 */
import { basename } from "node:path";
import { getLogger } from "@logtape/logtape";
import { sha256HexSync } from "./canonical_json.ts";
import type { AuditRecord } from "./record.ts";
import type { AuditSink } from "./writer_options.ts";

const log = getLogger(["tailops", "audit"]);

/** The last checkpoint this log wrote, kept beside it to notice a shorter log at the next start. */
export interface Anchor {
  seq: number;
  hash: string;
  time: string;
}

/** Writes the anchor atomically (temp file, rename); a failure is logged, never fatal. */
export function writeAnchor(path: string, record: AuditRecord): void {
  try {
    const text = JSON.stringify({ seq: record.seq, hash: record.hash, time: record.time });
    Deno.writeTextFileSync(`${path}.tmp`, text, { mode: 0o600 });
    Deno.renameSync(`${path}.tmp`, path);
  } catch (error) {
    log.warn("Cannot write the audit anchor {path}: {error}", { path, error: describe(error) });
  }
}

export async function readAnchor(path: string): Promise<Anchor | undefined> {
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch {
    return undefined;
  }
  const anchor = value as Partial<Anchor>;
  return Number.isInteger(anchor.seq) && typeof anchor.hash === "string" &&
      typeof anchor.time === "string"
    ? anchor as Anchor
    : undefined;
}

/** Where torn bytes were kept. */
export interface SetAside {
  file: string;
  bytes: number;
  sha256: string;
}

/** Copies the torn tail of a log to `LOG.torn-TIME` (0600, synced) before it is cut off. */
export async function setAsideTornBytes(
  path: string,
  bytes: Uint8Array,
  now: Date,
): Promise<SetAside> {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "");
  for (let n = 0;; n++) {
    const file = `${path}.torn-${stamp}${n === 0 ? "" : `-${n}`}`;
    let out: Deno.FsFile;
    try {
      out = await Deno.open(file, { write: true, createNew: true, mode: 0o600 });
    } catch (error) {
      if (error instanceof Deno.errors.AlreadyExists && n < 100) continue;
      throw error;
    }
    try {
      await writeAll(out, bytes);
      await out.syncData();
    } finally {
      out.close();
    }
    return { file: basename(file), bytes: bytes.length, sha256: sha256HexSync(bytes) };
  }
}

/** Writes every byte with `writeSync` (small records: no hop to the blocking pool). */
export function writeAllSync(sink: AuditSink, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length;) {
    const written = sink.writeSync!(bytes.subarray(offset));
    if (written <= 0) {
      throw new Error(`expected to write ${bytes.length - offset} bytes, wrote none`);
    }
    offset += written;
  }
}

export async function writeAll(sink: AuditSink, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) {
    const written = await sink.write(bytes.subarray(offset));
    if (written <= 0) {
      throw new Error(`expected to write ${bytes.length - offset} bytes, wrote none`);
    }
    offset += written;
  }
}

function describe(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
