import assert from "node:assert/strict";
import { AuditLog } from "../../src/audit/writer.ts";
import { RefusalRecorder } from "../../src/mcp/refusals.ts";
import type { AuditRecord } from "../../src/audit/record.ts";

async function open() {
  const path = `${await Deno.makeTempDir()}/audit.jsonl`;
  const log = await AuditLog.open(path, { fsync: "never" });
  const read = async () =>
    (await Deno.readTextFile(path)).trim().split("\n").filter(Boolean).map((l) =>
      JSON.parse(l) as AuditRecord
    );
  return { log, read };
}

Deno.test("a flood of one refusal writes one record now and one summary per window", async () => {
  const { log, read } = await open();
  const recorder = new RefusalRecorder(log, { windowMs: 3_600_000 });
  for (let i = 0; i < 1000; i++) {
    await recorder.record({ event: "auth_failed", reason: "invalid_token", peer: "127.0.0.1" });
  }
  assert.equal((await read()).length, 1);
  await recorder.flush();
  // The next window starts with a record of its own again.
  await recorder.record({ event: "auth_failed", reason: "invalid_token", peer: "127.0.0.1" });
  await recorder.close();
  await log.close();
  const records = await read();
  assert.deepEqual(records.map((r) => [r.event, r.detail!.count]), [
    ["auth_failed", 1],
    ["auth_failed", 999],
    ["auth_failed", 1],
  ]);
  assert.equal(records[1].detail!.peer, "127.0.0.1");
});

Deno.test("distinct keys beyond the cap fold into one overflow record", async () => {
  const { log, read } = await open();
  const recorder = new RefusalRecorder(log, { windowMs: 3_600_000, maxKeys: 3 });
  for (let i = 0; i < 10; i++) {
    await recorder.record({ event: "auth_failed", reason: "invalid_token", peer: `10.0.0.${i}` });
  }
  await recorder.close();
  await log.close();
  const records = await read();
  assert.deepEqual(records.map((r) => [r.reason, r.detail!.count, r.detail!.peer]), [
    ["invalid_token", 1, "10.0.0.0"],
    ["invalid_token", 1, "10.0.0.1"],
    ["invalid_token", 1, "10.0.0.2"],
    ["many_distinct", 1, undefined],
    ["many_distinct", 6, undefined],
  ]);
});

Deno.test("large refused arguments are not stored, only their size", async () => {
  const { log, read } = await open();
  const recorder = new RefusalRecorder(log, { windowMs: 3_600_000, maxArgsBytes: 100 });
  await recorder.record({
    event: "refused",
    reason: "unknown_target",
    identity: "alice",
    tool: "system_status",
    args: { target: "x".repeat(1000) },
  });
  await recorder.record({
    event: "refused",
    reason: "no_targets",
    identity: "alice",
    tool: "system_status",
    args: { targets: "tag:none" },
  });
  await recorder.close();
  await log.close();
  const [big, small] = await read();
  assert.equal(big.args, undefined);
  assert.equal(big.detail!.args_bytes, 1013);
  assert.deepEqual(small.args, { targets: "tag:none" });
});
