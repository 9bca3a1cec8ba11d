import assert from "node:assert/strict";
import { AuditLog } from "../../src/audit/writer.ts";
import { recentAuditRecords } from "../../src/audit/recent.ts";

/** Runs a test body in a fresh temporary directory, removed afterwards. */
async function inTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function chainWith(path: string, entries: number, tool: string): Promise<void> {
  const log = await AuditLog.open(path, { fsync: "never" });
  for (let i = 0; i < entries; i++) {
    await log.append({ event: "decided", tool, args: { i } });
  }
  await log.close();
}

Deno.test("recentAuditRecords() returns the newest records of several chains, merged by time", () =>
  inTempDir(async (dir) => {
    await chainWith(`${dir}/audit.jsonl`, 30, "one");
    await chainWith(`${dir}/audit.2.jsonl`, 30, "two");
    const chains = [{ chain: 1, path: `${dir}/audit.jsonl` }, {
      chain: 2,
      path: `${dir}/audit.2.jsonl`,
    }];
    const found = await recentAuditRecords(chains, { limit: 10, maxBytes: 1 << 20 });
    assert.equal(found.length, 10);
    // Chain 2 was written after chain 1: its newest records are the newest overall.
    assert.ok(found.every((r) => r.chain === 2 && r.record.tool === "two"));
    assert.deepEqual(found.map((r) => r.record.seq), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30]);
    const times = found.map((r) => r.record.time);
    assert.deepEqual(times, [...times].sort());
  }));

Deno.test("recentAuditRecords() reads only the last maxBytes and skips a line longer than that", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    await chainWith(path, 5, "small");
    // A torn, oversized and a foreign line: none is a record to show.
    await Deno.writeTextFile(path, `${"z".repeat(300_000)}\nnot json\n{"seq":1}\n`, {
      append: true,
    });
    const found = await recentAuditRecords([{ chain: 1, path }], { limit: 50, maxBytes: 4096 });
    assert.deepEqual(found, []);
    const wide = await recentAuditRecords([{ chain: 1, path }], {
      limit: 50,
      maxBytes: 1 << 20,
    });
    assert.deepEqual(wide.map((r) => r.record.seq), [1, 2, 3, 4, 5]);
  }));

Deno.test("recentAuditRecords() leaves out a record still being written (no final newline)", () =>
  inTempDir(async (dir) => {
    const path = `${dir}/audit.jsonl`;
    await chainWith(path, 3, "t");
    const lines = (await Deno.readTextFile(path)).split("\n");
    await Deno.writeTextFile(path, `${lines.slice(0, 2).join("\n")}\n${lines[2].slice(0, 40)}`);
    const found = await recentAuditRecords([{ chain: 1, path }], { limit: 50, maxBytes: 1 << 20 });
    assert.deepEqual(found.map((r) => r.record.seq), [1, 2]);
  }));
