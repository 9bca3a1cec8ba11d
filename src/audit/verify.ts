/**
 * Walks an audit log's hash chain and reports the first place it breaks.
 *
 * @module
 */
import { MAX_LINE_BYTES } from "./_read_tail.ts";
import { auditRecordSchema, GENESIS_HASH, hashRecord } from "./record.ts";

/**
 * What is wrong where a chain breaks:
 * - `edited`: a record's content does not match its `hash`.
 * - `deleted_or_reordered`: a record's `seq` or `prev` does not follow the
 *   record before it (records removed, swapped, duplicated or inserted).
 * - `truncated`: the last line is incomplete (no final newline).
 * - `invalid_record`: a complete line is not JSON or not an audit record.
 */
export type VerifyFailureReason =
  | "edited"
  | "deleted_or_reordered"
  | "truncated"
  | "invalid_record";

/** The outcome of verifying a log. */
export type VerifyReport =
  | {
    readonly ok: true;
    /** Records verified. */
    readonly count: number;
    /** The last record's hash ({@linkcode GENESIS_HASH} for an empty log). */
    readonly lastHash: string;
  }
  | {
    readonly ok: false;
    /** The `seq` the first bad line should have had (records before it verified). */
    readonly seq: number;
    /** 1-based line number of the first bad line. */
    readonly line: number;
    readonly reason: VerifyFailureReason;
    /** What was expected and what was found. */
    readonly message: string;
  };

type Failure = Extract<VerifyReport, { ok: false }>;

/** Checks one line after another against the chain so far. */
class ChainWalker {
  count = 0;
  lastHash = GENESIS_HASH;

  async check(text: string, line: number, terminated: boolean): Promise<Failure | undefined> {
    const seq = this.count + 1;
    const fail = (reason: VerifyFailureReason, message: string): Failure => ({
      ok: false,
      seq,
      line,
      reason,
      message,
    });
    if (!terminated) {
      return fail(
        "truncated",
        "Expected the last line to end with a newline, found an incomplete line",
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return fail("invalid_record", "Expected a JSON record, found text that is not JSON");
    }
    const result = auditRecordSchema.safeParse(parsed);
    if (!result.success) {
      const issue = result.error.issues[0];
      const where = issue.path.length > 0 ? `field "${issue.path.join(".")}"` : "the record";
      return fail(
        "invalid_record",
        `Expected an audit record, found ${where} invalid: ${issue.message}`,
      );
    }
    const record = result.data;
    // Hash what was parsed, not zod's copy, so every field found counts.
    const hash = await hashRecord(parsed as typeof record);
    if (hash !== record.hash) {
      return fail("edited", `Expected the record to hash to "${record.hash}", found ${hash}`);
    }
    if (record.seq !== seq) {
      return fail("deleted_or_reordered", `Expected seq ${seq}, found ${record.seq}`);
    }
    if (record.prev !== this.lastHash) {
      return fail(
        "deleted_or_reordered",
        `Expected prev "${this.lastHash}", found "${record.prev}"`,
      );
    }
    this.count = seq;
    this.lastHash = record.hash;
    return undefined;
  }

  report(): VerifyReport {
    return { ok: true, count: this.count, lastHash: this.lastHash };
  }
}

/**
 * Verifies a whole log held in memory.
 *
 * @param text The file's content.
 * @returns `ok` with the count and last hash, or the first break.
 */
export async function verifyAuditText(text: string): Promise<VerifyReport> {
  const walker = new ChainWalker();
  const lines = text.split("\n");
  // A final newline leaves an empty last element; anything else there is unterminated.
  const last = lines.pop() ?? "";
  for (const [index, line] of lines.entries()) {
    const failure = await walker.check(line, index + 1, true);
    if (failure) return failure;
  }
  if (last !== "") return await walker.check(last, lines.length + 1, false) ?? walker.report();
  return walker.report();
}

/**
 * Verifies a log file, reading it line by line so large files are not held
 * in memory. Needs `read` permission for the path.
 *
 * @param path The log file.
 * @returns `ok` with the count and last hash, or the first break.
 * @throws {Deno.errors.NotFound} When the file does not exist (other file errors likewise).
 */
export async function verifyAuditFile(path: string): Promise<VerifyReport> {
  const file = await Deno.open(path, { read: true });
  const walker = new ChainWalker();
  let buffer = "";
  let line = 0;
  // Leaving the loop early cancels the stream, which closes the file.
  for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
    // Search only the new text for the first newline, so a long line costs linear time.
    let end = chunk.indexOf("\n");
    if (end !== -1) end += buffer.length;
    buffer += chunk;
    let start = 0;
    for (; end !== -1; end = buffer.indexOf("\n", start)) {
      const failure = await walker.check(buffer.slice(start, end), ++line, true);
      if (failure) return failure;
      start = end + 1;
    }
    buffer = buffer.slice(start);
    if (buffer.length > MAX_LINE_BYTES) {
      return {
        ok: false,
        seq: walker.count + 1,
        line: line + 1,
        reason: "invalid_record",
        message: `Expected a line of at most ${MAX_LINE_BYTES} bytes, found a longer one`,
      };
    }
  }
  if (buffer !== "") return await walker.check(buffer, line + 1, false) ?? walker.report();
  return walker.report();
}
