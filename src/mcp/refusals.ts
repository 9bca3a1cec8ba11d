/**
 * Refusals are audited too: calls refused before the gate (unknown or hidden
 * tool, bad arguments, unknown target, empty selection, rate limit) and
 * failed HTTP authentications each leave a record. Repeats are aggregated so
 * a flood cannot fill the disk: per window (a minute) and per key (who, from
 * where, what, why), the first refusal is written at once and the rest are
 * counted into one more record when the window ends. Keys per window are
 * capped; beyond the cap, refusals fold into one overflow key.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { canonicalJson } from "../audit/canonical_json.ts";
import type { AuditEntry } from "../audit/record.ts";
import type { AuditAppender } from "./call_tool.ts";

const log = getLogger(["tailops", "audit", "refusals"]);

/** One refusal, before aggregation. */
export interface Refusal {
  /** `refused` for a tool call, `auth_failed` for an HTTP request without a valid credential. */
  readonly event: "refused" | "auth_failed";
  /** A stable reason code (`unknown_tool`, `bad_arguments`, `rate_limited`, `invalid_token`, …). */
  readonly reason: string;
  /** Who called, when known. */
  readonly identity?: string;
  /** The tool asked for. */
  readonly tool?: string;
  /** The client's address (HTTP). */
  readonly peer?: string;
  /** The sentence the client got. */
  readonly message?: string;
  /** The call's arguments (redacted by the log; kept only when small). */
  readonly args?: Record<string, unknown>;
}

/** Options of a {@linkcode RefusalRecorder}. */
export interface RefusalRecorderOptions {
  /** Aggregation window in ms. Default 60000. */
  readonly windowMs?: number;
  /** Distinct keys per window before folding into one overflow key. Default 256. */
  readonly maxKeys?: number;
  /** Largest `args` kept in a record, as canonical JSON bytes. Default 4096. */
  readonly maxArgsBytes?: number;
  /** The clock. */
  readonly now?: () => Date;
  /** The arguments as the log may keep them, per tool (file_write's content by digest only). */
  readonly auditArgs?: (tool: string, args: Record<string, unknown>) => Record<string, unknown>;
}

interface Bucket {
  first: Refusal;
  firstAt: string;
  lastAt: string;
  /** Refusals after the first, not yet written. */
  repeats: number;
  /** For unknown tools: a few of the names asked for after the first. */
  names?: Set<string>;
}

/** Writes refusals to the audit log, aggregated per key and window. */
export class RefusalRecorder {
  readonly #audit: AuditAppender;
  readonly #maxKeys: number;
  readonly #maxArgsBytes: number;
  readonly #now: () => Date;
  readonly #auditArgs?: RefusalRecorderOptions["auditArgs"];
  #buckets = new Map<string, Bucket>();
  #windowStart: string;
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * @param audit Where records go.
   * @param options Window, caps and clock.
   */
  constructor(audit: AuditAppender, options: RefusalRecorderOptions = {}) {
    this.#audit = audit;
    this.#maxKeys = options.maxKeys ?? 256;
    this.#maxArgsBytes = options.maxArgsBytes ?? 4096;
    this.#now = options.now ?? (() => new Date());
    this.#auditArgs = options.auditArgs;
    this.#windowStart = this.#now().toISOString();
    this.#timer = setInterval(() => void this.flush(), options.windowMs ?? 60_000);
    Deno.unrefTimer(this.#timer as unknown as number);
  }

  /**
   * Records one refusal: written now when it is the first of its key in this
   * window, else counted into the window's summary record.
   *
   * @param refusal What was refused, for whom, and why.
   * @returns When the record (if one is written now) is written; never rejects.
   */
  record(refusal: Refusal): Promise<void> {
    const at = this.#now().toISOString();
    // Tool names the caller made up do not make new keys: one key per caller for them all.
    const tool = refusal.reason === "unknown_tool" ? "*" : refusal.tool;
    let key = [refusal.event, refusal.reason, refusal.identity, refusal.peer, tool].join("\u0000");
    if (!this.#buckets.has(key) && this.#buckets.size >= this.#maxKeys) {
      key = `${refusal.event}\u0000overflow`;
    }
    const bucket = this.#buckets.get(key);
    if (bucket) {
      bucket.repeats++;
      bucket.lastAt = at;
      if (tool === "*" && refusal.tool !== undefined && (bucket.names ??= new Set()).size < 10) {
        bucket.names.add(refusal.tool.slice(0, 128));
      }
      return Promise.resolve();
    }
    const overflow = key.endsWith("\u0000overflow");
    const first = overflow ? { event: refusal.event, reason: "many_distinct" } : refusal;
    this.#buckets.set(key, { first, firstAt: at, lastAt: at, repeats: 0 });
    return this.#write(this.#entry(first, { count: 1, first_at: at }));
  }

  /**
   * Writes one summary record per key that saw repeats, and starts a new window.
   *
   * @returns When the records are written; never rejects.
   */
  async flush(): Promise<void> {
    const buckets = this.#buckets;
    const from = this.#windowStart;
    this.#buckets = new Map();
    this.#windowStart = this.#now().toISOString();
    for (const bucket of buckets.values()) {
      if (bucket.repeats === 0) continue;
      // The names in a summary of unknown tools are the repeats', not the first one's.
      const first = bucket.names ? { ...bucket.first, tool: undefined } : bucket.first;
      await this.#write(this.#entry(first, {
        ...(bucket.names ? { tools: [...bucket.names] } : {}),
        count: bucket.repeats,
        repeats_of_first: true,
        window_from: from,
        first_at: bucket.firstAt,
        last_at: bucket.lastAt,
      }));
    }
  }

  /**
   * Writes what is pending and stops the window timer.
   *
   * @returns When done; never rejects.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.flush();
  }

  #entry(refusal: Refusal, counts: Record<string, unknown>): AuditEntry {
    let args: Record<string, unknown> | undefined;
    const detail: Record<string, unknown> = { ...counts };
    if (refusal.args !== undefined) {
      const kept = refusal.tool && this.#auditArgs
        ? this.#auditArgs(refusal.tool, refusal.args)
        : refusal.args;
      refusal = { ...refusal, args: kept };
      let size = Infinity;
      try {
        size = new TextEncoder().encode(canonicalJson(refusal.args)).byteLength;
      } catch {
        // Not JSON-safe: keep only that it was there.
      }
      if (size <= this.#maxArgsBytes) args = refusal.args;
      else detail.args_bytes = Number.isFinite(size) ? size : null;
    }
    if (refusal.peer !== undefined) detail.peer = refusal.peer;
    if (refusal.message !== undefined) detail.message = refusal.message.slice(0, 500);
    return {
      event: refusal.event,
      reason: refusal.reason,
      ...(refusal.identity ? { identity: refusal.identity.slice(0, 512) } : {}),
      ...(refusal.tool ? { tool: refusal.tool.slice(0, 128) } : {}),
      ...(args ? { args } : {}),
      detail,
    };
  }

  async #write(entry: AuditEntry): Promise<void> {
    try {
      await this.#audit.append(entry, { durable: false });
    } catch (error) {
      // The refusal stands either way; a stopped log is reported by the calls it refuses.
      log.warn("Cannot record a refusal: {error}", {
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
}
