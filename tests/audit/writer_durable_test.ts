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

async function tempLog(): Promise<string> {
  return `${await Deno.makeTempDir()}/audit.jsonl`;
}

Deno.test("append({ durable: false }) resolves after the write, before the batch's sync, which still runs", async () => {
  const gate = gatedSync();
  const log = await AuditLog.open(await tempLog(), { fsync: "batch", wrapFile: gate.wrap });
  const record = await log.append({ event: "started" }, { durable: false });
  assert.equal(record.seq, 1);
  assert.deepEqual(gate.events, ["write", "sync started"]);
  gate.release();
  await log.close();
  assert.deepEqual(gate.events, ["write", "sync started", "sync done"]);
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
