/**
 * Walks an audit log's hash chain and reports the first place it breaks.
 *
 * @module
 */
import { MAX_LINE_BYTES } from "./_read_tail.ts";
import type { CheckpointVerifier } from "./checkpoint.ts";
import {
  type AuditRecord,
  auditRecordSchema,
  GENESIS_HASH,
  hashRecord,
  INVISIBLE_CHARACTERS,
} from "./record.ts";

/**
 * What is wrong where a chain breaks:
 * - `edited`: a record's content does not match its `hash`.
 * - `deleted_or_reordered`: a record's `seq` or `prev` does not follow the
 *   record before it (records removed, swapped, duplicated or inserted).
 * - `truncated`: the last line is incomplete (no final newline), or the log
 *   ends before a checkpoint that was shipped off the host.
 * - `invalid_record`: a complete line is not JSON or not an audit record, or
 *   holds an invisible or bidirectional control character unescaped.
 * - `rewritten`: a checkpoint does not match the chain before it (its signed
 *   head or signature differs from the recomputed head), or a shipped
 *   checkpoint differs from the record at its place.
 * - `foreign_key`: a checkpoint was signed by another key than the one given.
 */
export type VerifyFailureReason =
  | "edited"
  | "deleted_or_reordered"
  | "truncated"
  | "invalid_record"
  | "rewritten"
  | "foreign_key";

/** What `verifyAuditFile` checks besides the chain. */
export interface VerifyOptions {
  /** The audit public key: every checkpoint's signature is checked against it. */
  readonly key?: CheckpointVerifier;
  /**
   * Checkpoint records shipped off the host (webhook bodies, syslog lines):
   * each must be in the log, unchanged, at its `seq`.
   */
  readonly shipped?: readonly AuditRecord[];
}

/** How much of a chain the signed checkpoints cover. */
export interface CheckpointCoverage {
  /** Checkpoint records found. */
  readonly count: number;
  /** Whether their signatures were checked (a key was given). */
  readonly signaturesChecked: boolean;
  /** The last checkpoint record's `seq` and whether it was written at a clean close. */
  readonly last?: { readonly seq: number; readonly final: boolean };
  /** Records after the last checkpoint (not covered by any signature). */
  readonly uncovered: number;
  /** Shipped checkpoints matched in the log. */
  readonly shippedMatched: number;
}

/** The outcome of verifying a log. */
export type VerifyReport =
  | {
    readonly ok: true;
    /** Records verified. */
    readonly count: number;
    /** The last record's hash ({@linkcode GENESIS_HASH} for an empty log). */
    readonly lastHash: string;
    /** Checkpoint coverage. */
    readonly checkpoints: CheckpointCoverage;
    /** What the gateway recorded about its own log: torn tails set aside, outages recovered. */
    readonly notices: readonly string[];
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

const INVISIBLE = new RegExp(INVISIBLE_CHARACTERS.source, "u");

/** Checks one line after another against the chain so far. */
class ChainWalker {
  count = 0;
  lastHash = GENESIS_HASH;
  checkpoints = 0;
  lastCheckpoint: { seq: number; final: boolean } | undefined;
  notices: string[] = [];
  shippedMatched = 0;
  readonly #key: CheckpointVerifier | undefined;
  readonly #shipped: Map<number, AuditRecord>;

  constructor(options: VerifyOptions) {
    this.#key = options.key;
    this.#shipped = new Map((options.shipped ?? []).map((record) => [record.seq, record]));
  }

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
        "Expected the last line to end with a newline, found an incomplete line (a write cut short by a crash or a full disk; the gateway sets it aside when it next starts)",
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
    const invisible = INVISIBLE.exec(text);
    if (invisible) {
      const code = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
      return fail(
        "invalid_record",
        `Expected invisible and bidirectional characters written as \\u escapes, found U+${code} unescaped (the line may show reordered)`,
      );
    }
    if ((record.event === "checkpoint") !== (record.checkpoint !== undefined)) {
      return fail(
        "invalid_record",
        `Expected a checkpoint field exactly on checkpoint records, found event "${record.event}" ${
          record.checkpoint ? "with" : "without"
        } one`,
      );
    }
    if (record.checkpoint) {
      const failure = await this.#checkCheckpoint(record, fail);
      if (failure) return failure;
    }
    const shipped = this.#shipped.get(seq);
    if (shipped) {
      if (shipped.hash !== record.hash) {
        return fail(
          "rewritten",
          `Expected the checkpoint shipped off the host for seq ${seq} (hash "${shipped.hash}"), found a record with hash "${record.hash}"`,
        );
      }
      this.shippedMatched++;
    }
    this.#notice(record);
    this.count = seq;
    this.lastHash = record.hash;
    return undefined;
  }

  async #checkCheckpoint(
    record: AuditRecord,
    fail: (reason: VerifyFailureReason, message: string) => Failure,
  ): Promise<Failure | undefined> {
    const cp = record.checkpoint!;
    const head = { seq: this.count, head: this.lastHash, final: cp.final };
    if (cp.seq !== head.seq || cp.head !== head.head) {
      return fail(
        "rewritten",
        `Expected the checkpoint to sign the head before it (seq ${head.seq}, hash "${head.head}"), found seq ${cp.seq}, hash "${cp.head}": the chain before it was rewritten`,
      );
    }
    if (this.#key) {
      if (cp.kid !== this.#key.kid) {
        return fail(
          "foreign_key",
          `Expected a checkpoint signed by key "${this.#key.kid}", found one signed by "${cp.kid}"`,
        );
      }
      if (!await this.#key.verify(head, cp.sig)) {
        return fail(
          "rewritten",
          `Expected a signature by key "${cp.kid}" over the recomputed head (seq ${head.seq}, hash "${head.head}"), found one that does not match: the chain was rewritten after it was signed, or the checkpoint forged`,
        );
      }
    }
    this.checkpoints++;
    this.lastCheckpoint = { seq: record.seq, final: cp.final };
    return undefined;
  }

  #notice(record: AuditRecord): void {
    const d = record.detail ?? {};
    if (record.event === "tail_repaired") {
      this.notices.push(
        `seq ${record.seq}: at start the gateway found ${
          d.found ?? "a torn tail"
        }; ${d.bytes} bytes (sha256 ${d.sha256}) were kept in ${d.kept_in} next to the log and the chain continues from seq ${
          record.seq - 1
        }`,
      );
    } else if (record.event === "log_shortened") {
      this.notices.push(
        `seq ${record.seq}: at start the log ended at seq ${d.found_seq}, but the gateway had signed a checkpoint at seq ${d.signed_seq} (hash ${d.signed_hash}, ${d.signed_at}): records were removed, or the log was deleted or replaced while the gateway was down`,
      );
    } else if (record.event === "log_recovered") {
      this.notices.push(
        `seq ${record.seq}: the log could not be written from ${d.stopped_at} to ${record.time} (${d.error}); ${d.refused} appends were refused (their calls did not run, or ran and were told they could not be recorded), ${d.held} held records follow, ${d.dropped_bytes} bytes of the failed write were cut off${
          d.not_held ? `, ${d.not_held} records could not be held` : ""
        }`,
      );
    }
  }

  report(): VerifyReport {
    const beyond = [...this.#shipped.keys()].filter((seq) => seq > this.count);
    if (beyond.length > 0) {
      const last = Math.max(...beyond);
      return {
        ok: false,
        seq: this.count + 1,
        line: this.count + 1,
        reason: "truncated",
        message:
          `Expected records up to seq ${last} (a checkpoint shipped off the host), found the log ends at seq ${this.count}: records were cut off the end`,
      };
    }
    return {
      ok: true,
      count: this.count,
      lastHash: this.lastHash,
      checkpoints: {
        count: this.checkpoints,
        signaturesChecked: this.#key !== undefined,
        ...(this.lastCheckpoint ? { last: this.lastCheckpoint } : {}),
        uncovered: this.count - (this.lastCheckpoint?.seq ?? 0),
        shippedMatched: this.shippedMatched,
      },
      notices: this.notices,
    };
  }
}

/**
 * Verifies a whole log held in memory.
 *
 * @param text The file's content.
 * @param options A public key for checkpoint signatures, shipped checkpoints.
 * @returns `ok` with the count, last hash and checkpoint coverage, or the first break.
 */
export async function verifyAuditText(
  text: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const shippedFailure = await checkShipped(options);
  if (shippedFailure) return shippedFailure;
  const walker = new ChainWalker(options);
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
 * @param options A public key for checkpoint signatures, shipped checkpoints.
 * @returns `ok` with the count, last hash and checkpoint coverage, or the first break.
 * @throws {Deno.errors.NotFound} When the file does not exist (other file errors likewise).
 */
export async function verifyAuditFile(
  path: string,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const shippedFailure = await checkShipped(options);
  if (shippedFailure) return shippedFailure;
  const file = await Deno.open(path, { read: true });
  const walker = new ChainWalker(options);
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

/**
 * Checks each shipped checkpoint on its own: its hash, and with a key its
 * signature, so a made-up "shipped" copy cannot accuse a log of a cut.
 */
async function checkShipped(options: VerifyOptions): Promise<Failure | undefined> {
  for (const record of options.shipped ?? []) {
    const fail = (message: string): Failure => ({
      ok: false,
      seq: record.seq,
      line: 0,
      reason: "invalid_record",
      message: `Expected the shipped checkpoint for seq ${record.seq} ${message}`,
    });
    if (await hashRecord(record) !== record.hash) return fail("to match its hash, found it edited");
    const cp = record.checkpoint;
    if (!cp || cp.seq !== record.seq - 1 || cp.head !== record.prev) {
      return fail("to sign the head before it, found another head");
    }
    if (options.key) {
      if (cp.kid !== options.key.kid) {
        return fail(`to be signed by key "${options.key.kid}", found "${cp.kid}"`);
      }
      if (!await options.key.verify({ seq: cp.seq, head: cp.head, final: cp.final }, cp.sig)) {
        return fail("to carry a valid signature, found one that does not match");
      }
    }
  }
  return undefined;
}
