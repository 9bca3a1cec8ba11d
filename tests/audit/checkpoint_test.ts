import assert from "node:assert/strict";
import { AuditLog } from "../../src/audit/writer.ts";
import { importCheckpointKey } from "../../src/audit/checkpoint.ts";
import { type AuditRecord, formatRecord, hashRecord } from "../../src/audit/record.ts";
import { verifyAuditFile, verifyAuditText } from "../../src/audit/verify.ts";
import { testKey } from "./_test_signer.ts";

async function tempLog(): Promise<string> {
  return `${await Deno.makeTempDir()}/audit.jsonl`;
}

function records(text: string): AuditRecord[] {
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

/** Rewrites a log: edits one record and recomputes every hash after it, as an attacker would. */
async function rewrite(
  text: string,
  edit: (record: AuditRecord) => AuditRecord,
): Promise<string> {
  let prev = "0".repeat(64);
  const out: string[] = [];
  for (const original of records(text)) {
    const { hash: _hash, ...body } = edit({ ...original });
    const record = { ...body, prev } as AuditRecord;
    record.hash = await hashRecord(record);
    prev = record.hash;
    out.push(formatRecord(record));
  }
  return `${out.join("\n")}\n`;
}

async function logWith(n: number, options: { every?: number } = {}) {
  const key = await testKey();
  const path = await tempLog();
  const log = await AuditLog.open(path, {
    fsync: "never",
    checkpoint: { signer: key.signer, everyRecords: options.every ?? 5 },
  });
  for (let i = 0; i < n; i++) {
    await log.append({ event: "decided", tool: "system_info", target: `t${i}` });
  }
  return { key, path, log };
}

Deno.test("the writer signs a checkpoint every N records and a final one at close", async () => {
  const { key, path, log } = await logWith(12);
  await log.close();
  const all = records(await Deno.readTextFile(path));
  const checkpoints = all.filter((r) => r.event === "checkpoint");
  assert.deepEqual(checkpoints.map((r) => [r.seq, r.checkpoint!.seq, r.checkpoint!.final]), [
    [6, 5, false],
    [12, 11, false],
    [15, 14, true],
  ]);
  const report = await verifyAuditFile(path, { key: await importCheckpointKey(key.publicJwk) });
  assert.ok(report.ok);
  assert.deepEqual(report.checkpoints, {
    count: 3,
    signaturesChecked: true,
    last: { seq: 15, final: true },
    uncovered: 0,
    shippedMatched: 0,
  });
});

Deno.test("a timed checkpoint covers records written since the last one", async () => {
  const key = await testKey();
  const path = await tempLog();
  const shipped: AuditRecord[] = [];
  const log = await AuditLog.open(path, {
    fsync: "never",
    monitorMs: 10,
    checkpoint: {
      signer: key.signer,
      everyRecords: 1000,
      everyMs: 20,
      onCheckpoint: (r) => shipped.push(r),
    },
  });
  await log.append({ event: "started" });
  for (let i = 0; i < 500 && shipped.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(shipped.length, 1);
  assert.deepEqual(shipped[0].checkpoint!.seq, 1);
  await log.close();
  assert.equal(shipped.length, 2, "the final checkpoint is shipped too");
});

Deno.test("verify --key reports records after the last checkpoint as not covered (a cut tail cannot be excluded)", async () => {
  const { key, path, log } = await logWith(8);
  await log.close();
  const all = (await Deno.readTextFile(path)).split("\n");
  // Cut after the first checkpoint (seq 6) plus one record.
  await Deno.writeTextFile(path, all.slice(0, 7).join("\n") + "\n");
  const report = await verifyAuditFile(path, { key: await importCheckpointKey(key.publicJwk) });
  assert.ok(report.ok);
  assert.equal(report.checkpoints.uncovered, 1);
  assert.deepEqual(report.checkpoints.last, { seq: 6, final: false });
});

Deno.test("a checkpoint shipped off the host proves records were cut off the end", async () => {
  const { key, path, log } = await logWith(12);
  await log.close();
  const text = await Deno.readTextFile(path);
  const shipped = records(text).filter((r) => r.event === "checkpoint");
  // The attacker cuts back to the first checkpoint: locally it looks clean.
  await Deno.writeTextFile(path, text.split("\n").slice(0, 6).join("\n") + "\n");
  const publicKey = await importCheckpointKey(key.publicJwk);
  const local = await verifyAuditFile(path, { key: publicKey });
  assert.ok(local.ok && local.checkpoints.uncovered === 0);
  const report = await verifyAuditFile(path, { key: publicKey, shipped });
  assert.equal(report.ok, false);
  assert.equal(!report.ok && report.reason, "truncated");
  assert.match(!report.ok ? report.message : "", /up to seq 15 .*ends at seq 6/);
});

Deno.test("a chain rewritten with recomputed hashes fails at its first checkpoint", async () => {
  const { key, path, log } = await logWith(12);
  await log.close();
  const publicKey = await importCheckpointKey(key.publicJwk);
  const text = await Deno.readTextFile(path);
  // Form 1: edit a record and recompute the chain, keeping the checkpoints as they were.
  const kept = await rewrite(text, (r) => r.seq === 3 ? { ...r, target: "innocent" } : r);
  const one = await verifyAuditText(kept, { key: publicKey });
  assert.equal(!one.ok && one.reason, "rewritten");
  assert.equal(!one.ok && one.seq, 6);
  // Form 2: also move each checkpoint's signed head to the new chain (the signature no longer fits).
  let head = { seq: 0, hash: "0".repeat(64) };
  const moved = await rewrite(text, (r) => {
    const out = r.seq === 3 ? { ...r, target: "innocent" } : r;
    if (out.checkpoint) out.checkpoint = { ...out.checkpoint, seq: head.seq, head: head.hash };
    return out;
  });
  // Recompute the heads properly by walking the rewritten text once more.
  const fixed: string[] = [];
  let prev = "0".repeat(64);
  for (const record of records(moved)) {
    const { hash: _h, ...body } = record;
    const next = { ...body, prev } as AuditRecord;
    if (next.checkpoint) next.checkpoint = { ...next.checkpoint, seq: next.seq - 1, head: prev };
    next.hash = await hashRecord(next);
    prev = next.hash;
    head = { seq: next.seq, hash: next.hash };
    fixed.push(formatRecord(next));
  }
  const two = await verifyAuditText(`${fixed.join("\n")}\n`, { key: publicKey });
  assert.equal(!two.ok && two.reason, "rewritten");
  assert.match(!two.ok ? two.message : "", /signature .* does not match/);
  // Without a key the structural check still passes form 2: the key is what proves it.
  assert.ok((await verifyAuditText(`${fixed.join("\n")}\n`)).ok);
});

Deno.test("a checkpoint signed by another key is reported as foreign", async () => {
  const { key, path, log } = await logWith(7);
  await log.close();
  const other = await testKey();
  const report = await verifyAuditFile(path, { key: await importCheckpointKey(other.publicJwk) });
  assert.equal(!report.ok && report.reason, "foreign_key");
  assert.match(!report.ok ? report.message : "", new RegExp(key.signer.kid));
  // A rewrite re-signed with the attacker's own key is foreign too.
  const attacker = await testKey();
  const text = await Deno.readTextFile(path);
  const out: string[] = [];
  let prev = "0".repeat(64);
  for (const record of records(text)) {
    const { hash: _h, ...body } = record;
    const next = { ...body, prev } as AuditRecord;
    if (next.seq === 2) next.target = "innocent";
    if (next.checkpoint) {
      const { signCheckpoint } = await import("../../src/audit/checkpoint.ts");
      next.checkpoint = await signCheckpoint(attacker.signer, {
        seq: next.seq - 1,
        head: prev,
        final: next.checkpoint.final,
      });
    }
    next.hash = await hashRecord(next);
    prev = next.hash;
    out.push(formatRecord(next));
  }
  const forged = await verifyAuditText(`${out.join("\n")}\n`, {
    key: await importCheckpointKey(key.publicJwk),
  });
  assert.equal(!forged.ok && forged.reason, "foreign_key");
});

Deno.test("importCheckpointKey() takes a JWK, a JWK set or the raw x, and refuses other keys", async () => {
  const { publicJwk, signer } = await testKey();
  const jwk = JSON.parse(publicJwk);
  for (const text of [publicJwk, JSON.stringify({ keys: [jwk] }), jwk.x, ` ${jwk.x}\n`]) {
    assert.equal((await importCheckpointKey(text)).kid, signer.kid);
  }
  for (const text of ["", "not json", '{"kty":"RSA","n":"x","e":"AQAB"}', '{"keys":[]}']) {
    await assert.rejects(importCheckpointKey(text), TypeError);
  }
});

Deno.test("a made-up shipped checkpoint cannot accuse a log of a cut", async () => {
  const { key, path, log } = await logWith(6);
  await log.close();
  const publicKey = await importCheckpointKey(key.publicJwk);
  const real = records(await Deno.readTextFile(path)).filter((r) => r.event === "checkpoint");
  const last = real.at(-1)!;
  // Claims a checkpoint far beyond the end: its hash no longer matches.
  const beyond = { ...last, seq: last.seq + 50 };
  let report = await verifyAuditFile(path, { key: publicKey, shipped: [beyond] });
  assert.equal(!report.ok && report.reason, "invalid_record");
  // Consistent hash, but signed by someone else.
  const other = await testKey();
  const { signCheckpoint } = await import("../../src/audit/checkpoint.ts");
  const forged = {
    ...last,
    seq: 100,
    prev: "a".repeat(64),
    checkpoint: await signCheckpoint(other.signer, { seq: 99, head: "a".repeat(64), final: true }),
  } as AuditRecord;
  forged.hash = await hashRecord(forged);
  report = await verifyAuditFile(path, { key: publicKey, shipped: [forged] });
  assert.equal(!report.ok && report.reason, "invalid_record");
  assert.match(!report.ok ? report.message : "", /to be signed by key/);
});
