/**
 * The audit subsystem: canonical JSON and hashing, redaction, the
 * hash-chained JSONL log writer and its verifier.
 *
 * @example
 * ```ts
 * import { AuditLog, verifyAuditFile } from "./mod.ts";
 *
 * const log = await AuditLog.open(".tailops/audit.jsonl", { secrets: ["s3cret-token"] });
 * await log.append({ event: "decided", identity: "alice", tool: "service_restart", target: "web-1",
 *   call: "c1", decision: "allow", rule: "ops-restart", args: { unit: "nginx.service" } });
 * await log.close();
 * console.log(await verifyAuditFile(".tailops/audit.jsonl")); // { ok: true, count: 1, lastHash: "…" }
 * ```
 *
 * @module
 */
export * from "./canonical_json.ts";
export * from "./record.ts";
export * from "./redact.ts";
export * from "./verify.ts";
export * from "./writer.ts";
