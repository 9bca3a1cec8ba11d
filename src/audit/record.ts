/**
 * The shape of one audit record, its hash, and the line it is written as.
 *
 * @module
 */
import { z } from "zod";
import { canonicalJson, sha256HexSync } from "./canonical_json.ts";

/** The `prev` of the first record in a log. */
export const GENESIS_HASH: string = "0".repeat(64);

/**
 * Every event an audit record can describe. Extend by adding names here
 * (approvals will add `approval_requested`, `approval_granted`, …); the
 * schema and types follow.
 */
export const AUDIT_EVENTS = [
  "decided",
  "finished",
  "denied",
  "config_loaded",
  "started",
  "stopped",
  "approval_requested",
  "approval_granted",
  "approval_denied",
  "approval_expired",
  "approval_used",
  "approval_refused",
  "checkpoint",
  "tail_repaired",
  "log_recovered",
  "log_shortened",
  "refused",
  "auth_failed",
  "listed",
  "resource_read",
] as const;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "Expected 64 lowercase hex digits");
const id = z.string().min(1).max(512);

/**
 * The signature a `checkpoint` record carries: the gateway's audit key signs
 * the head of the chain (the `seq` and `hash` of the record just before the
 * checkpoint), so a chain rewritten after it was signed no longer matches.
 */
export const checkpointSchema = z.strictObject({
  /** The `seq` of the head signed (the record before the checkpoint; 0 for an empty log). */
  seq: z.int().min(0),
  /** The `hash` of that record ({@linkcode GENESIS_HASH} for an empty log). */
  head: hex64,
  /** `true` on the checkpoint written when the log is closed cleanly. */
  final: z.boolean(),
  /** The signing key's id (RFC 7638 thumbprint of the Ed25519 public key). */
  kid: z.string().min(1).max(128),
  /** Ed25519 signature (base64url) of the signed payload. */
  sig: z.string().regex(/^[A-Za-z0-9_-]{86}$/, "Expected a base64url Ed25519 signature"),
});

/** The signature part of a `checkpoint` record. */
export type Checkpoint = z.infer<typeof checkpointSchema>;

/** The schema of one audit record as stored (one JSON object per line). */
export const auditRecordSchema = z.strictObject({
  /** Position in the log, from 1, without gaps. */
  seq: z.int().min(1),
  /** When the event happened: ISO 8601 in UTC (`Z`). */
  time: z.iso.datetime({ precision: 3 }),
  /** What happened. */
  event: z.enum(AUDIT_EVENTS),
  /** Who called: the identity's subject. */
  identity: id.optional(),
  /** The tool (operation) called. */
  tool: id.optional(),
  /** The target id this record is about. */
  target: id.optional(),
  /** Links the per-target records of one multi-target call. */
  fanout: id.optional(),
  /** Links the `decided` and `finished` records of one call on one target. */
  call: id.optional(),
  /** The call's arguments, redacted. */
  args: z.record(z.string(), z.unknown()).optional(),
  /** The gate's decision. */
  decision: z.enum(["allow", "deny", "approval_required"]).optional(),
  /** The policy rule that decided. */
  rule: id.optional(),
  /** A stable reason code: a gate deny code or an executor failure code. */
  reason: z.string().regex(/^[a-z][a-z0-9_]*$/).max(64).optional(),
  /** SHA-256 of the plan's canonical JSON. */
  plan_digest: hex64.optional(),
  /** How the call ended: `ok`, or `error` with `reason` saying why. */
  status: z.enum(["ok", "error"]).optional(),
  /** A program's exit code; `null` when it was killed by a signal. */
  exit_code: z.int().nullable().optional(),
  /** Wall time of the execution in milliseconds. */
  duration_ms: z.number().min(0).optional(),
  /** Bytes of output produced (before caps). */
  output_bytes: z.int().min(0).optional(),
  /** SHA-256 of the output as returned to the client. */
  output_digest: hex64.optional(),
  /** Anything else worth keeping, redacted. */
  detail: z.record(z.string(), z.unknown()).optional(),
  /** On `checkpoint` records: the signed chain head (see `checkpoint.ts`). */
  checkpoint: checkpointSchema.optional(),
  /** The `hash` of the record before this one; {@linkcode GENESIS_HASH} for the first. */
  prev: hex64,
  /** SHA-256 of the canonical JSON of this record without `hash`. */
  hash: hex64,
});

/** One audit record as stored. */
export type AuditRecord = z.infer<typeof auditRecordSchema>;

/** An event name. */
export type AuditEvent = AuditRecord["event"];

/** The fields a caller supplies; the log adds `seq`, `time`, `prev` and `hash`. */
export type AuditEntry = Omit<AuditRecord, "seq" | "time" | "prev" | "hash">;

/** The schema of an {@linkcode AuditEntry}. */
export const auditEntrySchema = auditRecordSchema.omit({
  seq: true,
  time: true,
  prev: true,
  hash: true,
});

const FIELD_ORDER = Object.keys(auditRecordSchema.shape) as (keyof AuditRecord)[];

/**
 * Computes a record's hash: SHA-256 hex of the canonical JSON of every field but `hash`.
 *
 * @param record The record; a `hash` field, if present, is ignored.
 * @returns 64 lowercase hex digits.
 * @throws {TypeError} (as a rejection) When a field holds a value JSON cannot.
 */
export async function hashRecord(record: Omit<AuditRecord, "hash"> | AuditRecord): Promise<string> {
  return await Promise.resolve(hashRecordSync(record));
}

/**
 * {@linkcode hashRecord}, synchronously (the writer hashes in its write path).
 *
 * @param record The record; a `hash` field, if present, is ignored.
 * @returns 64 lowercase hex digits.
 * @throws {TypeError} When a field holds a value JSON cannot.
 */
export function hashRecordSync(record: Omit<AuditRecord, "hash"> | AuditRecord): string {
  const { hash: _hash, ...body } = record as AuditRecord;
  return sha256HexSync(canonicalJson(body));
}

/**
 * Characters a log viewer may draw invisibly or use to reorder a line:
 * format characters (Cf: bidirectional embeddings, overrides and isolates,
 * zero-width characters, the BOM, tags), line and paragraph separators, and
 * the C1 and DEL controls `JSON.stringify` leaves as they are.
 */
export const INVISIBLE_CHARACTERS: RegExp = /[\p{Cf}\p{Zl}\p{Zp}\u007f-\u009f]/gu;

/**
 * Writes a record as one line of the log (without the newline). Fields come
 * in the schema's order (`seq`, `time`, `event` first, `hash` last) so the
 * file reads well; the hash does not depend on this order. Invisible and
 * bidirectional control characters ({@linkcode INVISIBLE_CHARACTERS}) are
 * written as `\u` escapes, so a viewer cannot show a reordered line; the
 * parsed value, and so the hash, is the same.
 *
 * @param record A complete record.
 * @returns The JSON text.
 */
export function formatRecord(record: AuditRecord): string {
  const ordered: Record<string, unknown> = {};
  for (const key of FIELD_ORDER) {
    if (record[key] !== undefined) ordered[key] = record[key];
  }
  return JSON.stringify(ordered).replace(INVISIBLE_CHARACTERS, escapeUnits);
}

function escapeUnits(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    out += `\\u${text.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}
