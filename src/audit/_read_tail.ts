/**
 * Reads the last record of an existing audit log so a new writer can continue
 * its chain. Private to `src/audit`.
 *
 * @module
 */
import { auditRecordSchema, GENESIS_HASH, hashRecord } from "./record.ts";

/** Where a chain left off. */
export interface ChainTail {
  /** The last record's `seq` (0 for an empty log). */
  seq: number;
  /** The last record's `hash` ({@linkcode GENESIS_HASH} for an empty log). */
  hash: string;
  /** Bytes of an incomplete last line cut off (when repair was allowed). */
  droppedBytes: number;
}

/** The longest line the tail reader looks back for. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * Reads and checks the last line of a log.
 *
 * @param file The log, open for reading (and writing, when `repair` is set).
 * @param repair Cut off an incomplete last line instead of failing; a
 *   function is given the bytes first (to keep them aside) and may throw to stop the repair.
 * @returns Where the chain continues.
 * @throws {Error} With a sentence saying what is wrong with the tail.
 */
export async function readTail(
  file: Deno.FsFile,
  repair: boolean | ((dropped: Uint8Array) => Promise<void>),
): Promise<ChainTail> {
  let size = (await file.stat()).size;
  let droppedBytes = 0;
  if (size === 0) return { seq: 0, hash: GENESIS_HASH, droppedBytes };
  let window = Math.min(size, 64 * 1024);
  while (true) {
    const bytes = await readAt(file, size - window, window);
    const last = bytes.lastIndexOf(NEWLINE);
    if (last !== bytes.length - 1) {
      // An incomplete last line: a write cut short by a crash (or an edit).
      if (!repair) {
        throw new Error("expected the last line to end with a newline, found an incomplete record");
      }
      if (last === -1 && window < size) {
        window = grow(window, size);
        continue;
      }
      const keep = size - window + last + 1;
      if (typeof repair === "function") await repair(bytes.slice(last + 1));
      await file.truncate(keep);
      droppedBytes += size - keep;
      size = keep;
      if (size === 0) return { seq: 0, hash: GENESIS_HASH, droppedBytes };
      window = Math.min(size, 64 * 1024);
      continue;
    }
    const start = bytes.lastIndexOf(NEWLINE, bytes.length - 2) + 1;
    if (start === 0 && window < size) {
      window = grow(window, size);
      continue;
    }
    const text = new TextDecoder().decode(bytes.subarray(start, bytes.length - 1));
    const record = await checkLine(text);
    return { seq: record.seq, hash: record.hash, droppedBytes };
  }
}

function grow(window: number, size: number): number {
  if (window >= MAX_LINE_BYTES) {
    throw new Error(`expected a last line of at most ${MAX_LINE_BYTES} bytes, found a longer one`);
  }
  return Math.min(size, window * 2);
}

async function checkLine(text: string): Promise<{ seq: number; hash: string }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error("expected the last line to be a JSON record, found text that is not JSON");
  }
  const result = auditRecordSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(
      `expected the last line to be an audit record, found ${
        issue.path.join(".") || "it"
      }: ${issue.message}`,
    );
  }
  const hash = await hashRecord(parsed as typeof result.data);
  if (hash !== result.data.hash) {
    throw new Error(
      `expected the last record (seq ${result.data.seq}) to hash to its "hash" field, found ${hash}`,
    );
  }
  return result.data;
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) {
      throw new Error("expected to read the end of the file, found it shorter than its size");
    }
    filled += n;
  }
  return buffer;
}
