/**
 * The last records of audit chains, read from the end of each file within a
 * byte bound: a log of any size costs at most `maxBytes` per chain, and a
 * record longer than that is skipped rather than read whole.
 *
 * @module
 */
import { type AuditRecord, auditRecordSchema } from "./record.ts";

/** A record with the chain it came from. */
export interface ChainRecord {
  /** The chain number (1 is `audit.jsonl`). */
  readonly chain: number;
  /** The record as stored (already redacted when it was written). */
  readonly record: AuditRecord;
}

/** Bounds of {@linkcode recentAuditRecords}. */
export interface RecentOptions {
  /** Records returned at most, newest last. */
  readonly limit: number;
  /** Bytes read from the end of each chain at most. */
  readonly maxBytes: number;
}

async function readEnd(path: string, maxBytes: number): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const start = Math.max(0, size - maxBytes);
  const buffer = new Uint8Array(size - start);
  await file.seek(start, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < buffer.length) {
    const n = await file.read(buffer.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  const text = new TextDecoder().decode(buffer.subarray(0, filled));
  // A window that starts mid-file starts mid-line: drop that piece.
  return start === 0 ? text : text.slice(text.indexOf("\n") + 1);
}

/**
 * The newest records of some chains, merged by time (then chain and seq).
 *
 * Needs `read` permission for the files.
 *
 * @param chains The chains' numbers and log paths.
 * @param options How many records, and how many bytes per chain at most.
 * @returns Up to `limit` records, oldest first; lines that are not valid records are skipped.
 * @throws {Deno.errors.NotFound} When a chain's file is gone (other I/O errors likewise).
 */
export async function recentAuditRecords(
  chains: readonly { chain: number; path: string }[],
  options: RecentOptions,
): Promise<ChainRecord[]> {
  const found: ChainRecord[] = [];
  for (const { chain, path } of chains) {
    const lines = (await readEnd(path, options.maxBytes)).split("\n");
    // The last piece is empty after a final newline, or a record still being written.
    lines.pop();
    for (const line of lines.slice(-options.limit)) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        continue;
      }
      const record = auditRecordSchema.safeParse(parsed);
      if (record.success) found.push({ chain, record: record.data });
    }
  }
  found.sort((a, b) =>
    a.record.time.localeCompare(b.record.time) || a.chain - b.chain ||
    a.record.seq - b.record.seq
  );
  return found.slice(-options.limit);
}
