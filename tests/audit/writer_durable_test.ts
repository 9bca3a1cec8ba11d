import assert from "node:assert/strict";
import { AuditError, AuditLog, type AuditSink } from "../../src/audit/writer.ts";

/** Wraps the file so each sync waits until released, and can fail. */
function gatedSync(fail = false) {
  const events: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const wrap = (file: AuditSink): AuditSink => ({
    write: async (data) => {
      const n = await file.write(data);
      events.push("write");
      return n;
    },
    syncData: async () => {
      events.push("sync started");
      await released;
      if (fail) throw new Error("EIO");
      await file.syncData();
      events.push("sync done");
    },
    close: () => file.close(),
  });
  return { events, release, wrap };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

async function tempLog(): Promise<string> {
  return `${await Deno.makeTempDir()}/audit.jsonl`;
}

Deno.test("append({ durable: false }) resolves after the write, before any sync, which still runs", async () => {
  const gate = gatedSync();
  const log = await AuditLog.open(await tempLog(), { fsync: "batch", wrapFile: gate.wrap });
  const record = await log.append({ event: "started" }, { durable: false });
  assert.equal(record.seq, 1);
  assert.deepEqual(gate.events, ["write"]);
  // With nothing durable behind it, the lazy sync starts it by itself.
  await until(() => gate.events.includes("sync started"), "the lazy sync");
  gate.release();
  await log.close();
  assert.deepEqual(gate.events, ["write", "sync started", "sync done"]);
});

Deno.test("a non-durable record rides the sync of the durable record after it: one sync for both", async () => {
  const gate = gatedSync();
  const path = await tempLog();
  // A lazy sync that never comes by itself: only the durable record can start one.
  const log = await AuditLog.open(path, { wrapFile: gate.wrap, lazySyncMs: 600_000 });
  await log.append({ event: "finished" }, { durable: false });
  const durable = log.append({ event: "decided" });
  await until(() => gate.events.includes("sync started"), "the durable record's sync");
  assert.deepEqual(gate.events, ["write", "write", "sync started"]);
  gate.release();
  const record = await durable;
  assert.equal(record.seq, 2);
  assert.equal(log.seq, 2, "both records are committed by that one sync");
  await log.close();
  assert.deepEqual(gate.events, ["write", "write", "sync started", "sync done"]);
});

Deno.test("records are written while an earlier sync is in flight: a non-durable one does not wait for it", async () => {
  const gate = gatedSync();
  const path = await tempLog();
  const log = await AuditLog.open(path, { wrapFile: gate.wrap });
  let durableResolved = false;
  const durable = log.append({ event: "decided" }).then(() => durableResolved = true);
  await until(() => gate.events.includes("sync started"), "the first sync");
  const second = await log.append({ event: "finished" }, { durable: false });
  assert.equal(second.seq, 2);
  assert.equal(durableResolved, false, "the first sync is still blocked");
  assert.equal((await Deno.readTextFile(path)).trim().split("\n").length, 2);
  gate.release();
  await durable;
  await log.close();
});

Deno.test("a failed sync holds a resolved non-durable record and writes it back before later ones", async () => {
  let failSync = true;
  const events: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  const path = await tempLog();
  const log = await AuditLog.open(path, {
    monitorMs: 20,
    lazySyncMs: 600_000,
    wrapFile: (file) => ({
      write: (data) => file.write(data),
      syncData: async () => {
        events.push("sync");
        await released;
        if (failSync) throw new Error("EIO");
        await file.syncData();
      },
      close: () => file.close(),
    }),
  });
  const decided = await log.append({ event: "decided", call: "c1" }, { durable: false });
  assert.equal(decided.seq, 1);
  const durable = log.append({ event: "started" });
  await until(() => events.length === 1, "the sync");
  release();
  await assert.rejects(durable, AuditError);
  // The call ran: its finished record is kept while the log is stopped.
  await assert.rejects(log.append({ event: "finished", call: "c1" }, { durable: false }), (e) => {
    assert.ok(e instanceof AuditError && e.held === true);
    return true;
  });
  failSync = false;
  await until(() => log.failure === undefined, "recovery");
  await log.close();
  const events_ = (await Deno.readTextFile(path)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(events_.map((r) => [r.event, r.call]), [
    ["log_recovered", undefined],
    ["decided", "c1"],
    ["finished", "c1"],
  ]);
});

Deno.test("a durable append waits for its sync", async () => {
  const gate = gatedSync();
  const log = await AuditLog.open(await tempLog(), { fsync: "batch", wrapFile: gate.wrap });
  let resolved = false;
  const durable = log.append({ event: "started" }).then(() => resolved = true);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(resolved, false);
  gate.release();
  await durable;
  assert.equal(resolved, true);
  await log.close();
});

Deno.test("a failed sync after a non-durable append stops the log: later appends are refused", async () => {
  const gate = gatedSync(true);
  const log = await AuditLog.open(await tempLog(), { fsync: "batch", wrapFile: gate.wrap });
  await log.append({ event: "started" }, { durable: false });
  gate.release();
  await assert.rejects(log.append({ event: "stopped" }), AuditError);
  assert.ok(log.failure instanceof AuditError);
  await log.close();
});

Deno.test("fsync always ignores durable: false", async () => {
  const gate = gatedSync();
  const log = await AuditLog.open(await tempLog(), { fsync: "always", wrapFile: gate.wrap });
  let resolved = false;
  const append = log.append({ event: "started" }, { durable: false }).then(() => resolved = true);
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(resolved, false);
  gate.release();
  await append;
  await log.close();
});
