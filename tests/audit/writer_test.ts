import assert from "node:assert/strict";
import { GENESIS_HASH, hashRecord } from "../../src/audit/record.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import { AuditError, AuditLog, type AuditSink } from "../../src/audit/writer.ts";
import { chainOf } from "./_chain_of.ts";

/** A clock that starts at a fixed instant and advances 1 ms per reading. */
function fakeClock(start = Date.UTC(2025, 0, 2, 3, 4, 5)): () => Date {
  let now = start;
  return () => new Date(now++);
}

async function tempLog(): Promise<string> {
  return `${await Deno.makeTempDir()}/state/audit.jsonl`;
}

/** Wraps the file, counting calls and failing the chosen ones. */
function faulty(failWrite: (n: number) => boolean, failSync: (n: number) => boolean = () => false) {
  const calls = { writes: 0, syncs: 0 };
  const wrap = (file: AuditSink): AuditSink => ({
    write: (data) =>
      failWrite(++calls.writes) ? Promise.reject(new Error("EIO")) : file.write(data),
    syncData: () => failSync(++calls.syncs) ? Promise.reject(new Error("EIO")) : file.syncData(),
    close: () => file.close(),
  });
  return { calls, wrap };
}

Deno.test("AuditLog.open() creates the directory 0700 and the file 0600", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path);
  await log.close();
  assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
  assert.equal(Deno.statSync(path.replace(/\/audit\.jsonl$/, "")).mode! & 0o777, 0o700);
});

Deno.test("append() fills in seq, time, prev and hash, starting from the genesis hash", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path, { clock: fakeClock() });
  const first = await log.append({ event: "started" });
  const second = await log.append({ event: "config_loaded", detail: { targets: 3 } });
  await log.close();
  assert.deepEqual({ ...first, hash: undefined }, {
    seq: 1,
    time: "2025-01-02T03:04:05.000Z",
    event: "started",
    prev: GENESIS_HASH,
    hash: undefined,
  });
  assert.equal(first.hash, await hashRecord(first));
  assert.equal(second.seq, 2);
  assert.equal(second.prev, first.hash);
  assert.equal(second.time, "2025-01-02T03:04:05.001Z");
  const lines = Deno.readTextFileSync(path).split("\n");
  assert.deepEqual(lines.map((line) => line && JSON.parse(line)), [first, second, ""]);
});

Deno.test("append() redacts args and detail before writing", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path, { secrets: ["sk-live-123456"] });
  const record = await log.append({
    event: "decided",
    identity: "alice",
    tool: "http_request",
    target: "api",
    call: "c1",
    decision: "allow",
    rule: "r1",
    args: { headers: { Authorization: "Bearer abc" }, body: "key=sk-live-123456" },
    detail: { password: "hunter22" },
  });
  await log.close();
  assert.deepEqual(record.args, {
    headers: { Authorization: "[REDACTED]" },
    body: "key=[REDACTED]",
  });
  const text = Deno.readTextFileSync(path);
  for (const secret of ["sk-live-123456", "hunter22", "Bearer abc"]) {
    assert.ok(!text.includes(secret));
  }
});

Deno.test("append() rejects an invalid entry with a TypeError and uses no seq for it", async () => {
  const log = await AuditLog.open(await tempLog());
  await assert.rejects(
    // @ts-expect-error: an event the schema does not know
    log.append({ event: "exploded" }),
    { name: "TypeError", message: /^Cannot append audit record: invalid event: / },
  );
  await assert.rejects(
    // @ts-expect-error: callers may not choose seq
    log.append({ event: "started", seq: 9 }),
    TypeError,
  );
  assert.equal((await log.append({ event: "started" })).seq, 1);
  await log.close();
});

Deno.test("AuditLog continues the chain across a reopen", async () => {
  const path = await tempLog();
  let log = await AuditLog.open(path);
  for (let i = 0; i < 3; i++) await log.append({ event: "started" });
  const third = log.lastHash;
  await log.close();
  log = await AuditLog.open(path);
  assert.equal(log.seq, 3);
  const fourth = await log.append({ event: "stopped" });
  await log.close();
  assert.equal(fourth.seq, 4);
  assert.equal(fourth.prev, third);
  assert.deepEqual(chainOf(await verifyAuditFile(path)), {
    ok: true,
    count: 4,
    lastHash: fourth.hash,
  });
});

Deno.test("2000 concurrent appends form a gap-free chain in call order, in few syncs", async () => {
  const path = await tempLog();
  const { calls, wrap } = faulty(() => false);
  const log = await AuditLog.open(path, { wrapFile: wrap });
  const started = performance.now();
  const records = await Promise.all(
    Array.from(
      { length: 2000 },
      (_, i) =>
        log.append({
          event: i % 2 ? "finished" : "decided",
          call: `call-${i >> 1}`,
          target: `t${i}`,
        }),
    ),
  );
  const elapsed = performance.now() - started;
  await log.close();
  records.forEach((record, i) => {
    assert.equal(record.seq, i + 1);
    assert.equal(record.target, `t${i}`);
  });
  assert.ok(calls.syncs < 100, `expected batched syncs, found ${calls.syncs}`);
  assert.deepEqual(chainOf(await verifyAuditFile(path)), {
    ok: true,
    count: 2000,
    lastHash: records[1999].hash,
  });
  assert.ok(elapsed < 5000, `2000 appends took ${elapsed} ms`);
});

Deno.test('fsync "always" syncs once per record and "never" not at all', async () => {
  for (const [fsync, syncs] of [["always", 20], ["never", 0]] as const) {
    const { calls, wrap } = faulty(() => false);
    const log = await AuditLog.open(await tempLog(), { fsync, wrapFile: wrap });
    const records = await Promise.all(
      Array.from({ length: 20 }, () => log.append({ event: "started" })),
    );
    await log.close();
    assert.deepEqual(records.map((r) => r.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(calls.syncs, syncs, fsync);
  }
});

Deno.test("a failed write rejects its batch and every later append (fails closed)", async () => {
  const path = await tempLog();
  const { wrap } = faulty((n) => n >= 3);
  const log = await AuditLog.open(path, { wrapFile: wrap });
  await log.append({ event: "started" });
  await log.append({ event: "config_loaded" });
  const error = await log.append({ event: "decided" }).catch((e) => e);
  assert.ok(error instanceof AuditError);
  assert.equal(error.message, `Cannot write audit log "${path}": EIO`);
  assert.equal(log.failure, error);
  await assert.rejects(log.append({ event: "decided" }), {
    name: "AuditError",
    message: new RegExp(
      `^Cannot append to audit log "${path}": expected a working log, found it stopped since .*Z \\(EIO\\)$`,
    ),
  });
  await log.close();
  assert.deepEqual(chainOf(await verifyAuditFile(path)), {
    ok: true,
    count: 2,
    lastHash: log.lastHash,
  });
});

Deno.test("a failed sync rejects all appends waiting in the batch", async () => {
  const { wrap } = faulty(() => false, (n) => n >= 2);
  const log = await AuditLog.open(await tempLog(), { wrapFile: wrap });
  await log.append({ event: "started" });
  const results = await Promise.allSettled(
    Array.from({ length: 10 }, () => log.append({ event: "decided" })),
  );
  assert.ok(results.every((r) => r.status === "rejected" && r.reason instanceof AuditError));
  await assert.rejects(log.append({ event: "stopped" }), AuditError);
  await log.close();
});

Deno.test("a full disk (/dev/full) makes append reject with AuditError", {
  ignore: Deno.build.os !== "linux",
}, async () => {
  const log = await AuditLog.open("/dev/full");
  await assert.rejects(log.append({ event: "started" }), {
    name: "AuditError",
    message: /^Cannot write audit log "\/dev\/full": /,
  });
  await assert.rejects(log.append({ event: "started" }), AuditError);
  await log.close();
});

Deno.test("AuditLog.open() refuses a file whose last line is incomplete", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path);
  await log.append({ event: "started" });
  await log.close();
  Deno.writeTextFileSync(path, '{"seq":2,"ti', { append: true });
  await assert.rejects(AuditLog.open(path), {
    name: "AuditError",
    message: `Cannot open audit log "${path}": expected the last line to end with a newline, ` +
      "found an incomplete record",
  });
});

Deno.test('AuditLog.open() with onCorruptTail "truncate" cuts an incomplete line and continues', async () => {
  const path = await tempLog();
  let log = await AuditLog.open(path);
  const first = await log.append({ event: "started" });
  await log.close();
  Deno.writeTextFileSync(path, '{"seq":2,"ti', { append: true });
  log = await AuditLog.open(path, { onCorruptTail: "truncate" });
  assert.equal(log.droppedTailBytes, 12);
  const second = await log.append({ event: "stopped" });
  await log.close();
  assert.equal(second.prev, first.hash);
  assert.deepEqual(chainOf(await verifyAuditFile(path)), {
    ok: true,
    count: 2,
    lastHash: second.hash,
  });
});

Deno.test("AuditLog.open() refuses a complete but bad last line even when told to truncate", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path);
  await log.append({ event: "started", target: "web-1" });
  await log.close();
  const edited = Deno.readTextFileSync(path).replace("web-1", "web-2");
  Deno.writeTextFileSync(path, edited);
  await assert.rejects(AuditLog.open(path, { onCorruptTail: "truncate" }), {
    name: "AuditError",
    message: /expected the last record \(seq 1\) to hash to its "hash" field/,
  });
  Deno.writeTextFileSync(path, "garbage\n", { append: true });
  await assert.rejects(AuditLog.open(path), {
    name: "AuditError",
    message: /found text that is not JSON/,
  });
});

Deno.test("AuditLog.open() refuses a second writer on the same file", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path);
  const refused = await AuditLog.open(path).then(() => undefined, (error) => error);
  assert.ok(refused instanceof AuditError, String(refused));
  assert.equal(refused.name, "AuditLockedError");
  assert.match(refused.message, /found the file locked/);
  await log.close();
  await (await AuditLog.open(path)).close();
});

Deno.test("close() waits for accepted appends and later appends are refused", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path);
  const pending = log.append({ event: "stopped" });
  await log.close();
  assert.equal((await pending).seq, 1);
  await assert.rejects(log.append({ event: "started" }), {
    name: "AuditError",
    message: /found it closed/,
  });
  await log.close();
});
