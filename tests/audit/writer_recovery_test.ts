import assert from "node:assert/strict";
import { AuditError, AuditLog } from "../../src/audit/writer.ts";
import { verifyAuditFile } from "../../src/audit/verify.ts";
import type { AuditRecord } from "../../src/audit/record.ts";

async function tempLog(): Promise<string> {
  return `${await Deno.makeTempDir()}/audit.jsonl`;
}

function records(text: string): AuditRecord[] {
  return text.trim().split("\n").map((line) => JSON.parse(line));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 3000 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

for (
  const [how, act] of [
    ["unlinked", (path: string) => Deno.remove(path)],
    ["renamed away", (path: string) => Deno.rename(path, `${path}.old`)],
    ["replaced by another file", async (path: string) => {
      await Deno.writeTextFile(`${path}.new`, "");
      await Deno.rename(`${path}.new`, path);
    }],
  ] as const
) {
  Deno.test(`a log file ${how} under the open log stops it: appends are refused, nothing is written`, async () => {
    const path = await tempLog();
    const log = await AuditLog.open(path, { monitorMs: 20 });
    await log.append({ event: "started" });
    await act(path);
    await assert.rejects(log.append({ event: "decided" }), (error: AuditError) => {
      assert.ok(error instanceof AuditError);
      assert.match(error.message, /expected the file the gateway opened, found that/);
      return true;
    });
    assert.ok(log.failure);
    // It does not come back by itself: nothing it writes could be found at the path.
    await new Promise((r) => setTimeout(r, 100));
    await assert.rejects(log.append({ event: "decided" }), AuditError);
    await log.close();
  });
}

Deno.test("the monitor notices an unlinked log while no call is running", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path, { monitorMs: 10 });
  await log.append({ event: "started" });
  await Deno.remove(path);
  await until(() => log.failure !== undefined, "the monitor to notice");
  await log.close();
});

Deno.test("invisible and bidirectional characters are stored as \\u escapes and verify still passes", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path, { fsync: "never" });
  const sneaky = [
    "\u202Eexe.txt",
    "a\u2066b\u2069",
    "zero\u200Bwidth\u200D\u200E\u200F",
    "\uFEFFbom",
    "line\u2028sep\u2029",
    "c1\u0085\u009B",
    "tag\u{E0041}",
  ];
  const written = await log.append({
    event: "decided",
    identity: "u\u202Dser",
    args: { path: sneaky.join("|"), [`key\u202E`]: 1 },
  });
  await log.close();
  const text = await Deno.readTextFile(path);
  assert.doesNotMatch(text, /[\p{Cf}\u2028\u2029\u0085\u009B]/u);
  assert.match(text, /\\u202e/);
  assert.match(text, /\\udb40\\udc41/, "characters beyond the BMP are escaped as surrogate pairs");
  const [stored] = records(text);
  assert.deepEqual(stored.args, written.args);
  assert.equal(stored.identity, "u\u202Dser");
  assert.ok((await verifyAuditFile(path)).ok);
  // A raw bidi character put back in place of its escape keeps the hash but is reported.
  await Deno.writeTextFile(path, text.replace("\\u202e", "\u202E"));
  const report = await verifyAuditFile(path);
  assert.equal(!report.ok && report.reason, "invalid_record");
  assert.match(!report.ok ? report.message : "", /U\+202E unescaped/);
});

Deno.test('open with onCorruptTail "set_aside" keeps the torn bytes next to the log and records it', async () => {
  const path = await tempLog();
  let log = await AuditLog.open(path);
  await log.append({ event: "started" });
  await log.close();
  const torn = new TextEncoder().encode('{"seq":2,"time":"2026-');
  const nul = new Uint8Array(100); // a power cut can leave zeros after the last good line
  await Deno.writeFile(path, new Uint8Array([...torn, ...nul]), { append: true });
  log = await AuditLog.open(path, { onCorruptTail: "set_aside" });
  assert.equal(log.droppedTailBytes, torn.length + nul.length);
  await log.append({ event: "config_loaded" });
  await log.close();
  const all = records(await Deno.readTextFile(path));
  assert.deepEqual(all.map((r) => r.event), ["started", "tail_repaired", "config_loaded"]);
  const detail = all[1].detail!;
  assert.equal(detail.bytes, torn.length + nul.length);
  const kept = await Deno.readFile(`${path.replace(/audit\.jsonl$/, "")}${detail.kept_in}`);
  assert.deepEqual(kept, new Uint8Array([...torn, ...nul]));
  const stat = await Deno.stat(`${path.replace(/audit\.jsonl$/, "")}${detail.kept_in}`);
  assert.equal(stat.mode! & 0o777, 0o600);
  const report = await verifyAuditFile(path);
  assert.ok(report.ok);
  assert.equal(report.notices.length, 1);
  assert.match(report.notices[0], /seq 2: at start the gateway found an incomplete last line/);
});

Deno.test(
  "a full disk stops the log; once space returns it recovers by itself and records the gap",
  {
    ignore: Deno.build.os !== "linux" || Deno.uid() !== 0,
  },
  async () => {
    const mount = await Deno.makeTempDir({ prefix: "tailops-fullfs-" });
    const run = async (...args: string[]) => {
      const out = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" })
        .output();
      assert.ok(out.success, `${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    };
    await run("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mount);
    try {
      const path = `${mount}/audit.jsonl`;
      const log = await AuditLog.open(path, { monitorMs: 20 });
      await log.append({ event: "started" });
      // Fill the file system.
      const filler = await Deno.open(`${mount}/filler`, { write: true, create: true });
      try {
        const chunk = new Uint8Array(4096);
        while (true) await filler.write(chunk);
      } catch (error) {
        assert.match(String(error), /No space left|os error 28/);
      } finally {
        filler.close();
      }
      // Appends fail once the file's last page is full: decided records are refused,
      // finished records (nothing waits on them) are held.
      let refused: AuditError | undefined;
      let held = 0;
      for (let i = 0; i < 200 && refused === undefined; i++) {
        await log.append({ event: "decided", target: `t${i}`, args: { pad: "x".repeat(300) } })
          .catch((error) => refused = error);
      }
      assert.ok(refused instanceof AuditError, "appends fail on a full disk");
      assert.match(refused.message, /No space left|os error 28/);
      await log.append({ event: "finished", target: "ran", status: "ok" }, { durable: false })
        .catch((error: AuditError) => held += error.held ? 1 : 0);
      assert.equal(held, 1);
      assert.ok(log.failure);
      // Still full: the monitor retries and fails.
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(log.failure);
      await Deno.remove(`${mount}/filler`);
      await until(() => log.failure === undefined, "the log to recover");
      await log.append({ event: "decided", target: "after" });
      await log.close();
      const all = records(await Deno.readTextFile(path));
      const recovered = all.findIndex((r) => r.event === "log_recovered");
      assert.ok(recovered > 0);
      assert.equal(
        all[recovered + 1].target,
        "ran",
        "the held finished record follows the gap record",
      );
      assert.equal(all.at(-1)!.target, "after");
      const detail = all[recovered].detail!;
      assert.ok((detail.refused as number) >= 1);
      assert.equal(detail.held, 1);
      const report = await verifyAuditFile(path);
      assert.ok(report.ok, JSON.stringify(report));
      assert.match(report.notices[0], /could not be written from .*No space left/);
    } finally {
      await run("umount", mount);
      await Deno.remove(mount);
    }
  },
);

Deno.test("a log truncated under the open log stops it", async () => {
  const path = await tempLog();
  const log = await AuditLog.open(path, { fsync: "never" });
  await log.append({ event: "started" });
  await log.append({ event: "config_loaded" });
  await Deno.truncate(path, 10);
  await assert.rejects(log.append({ event: "decided" }), /the file was truncated while open/);
  await log.close();
});

Deno.test("a log found shorter than its last signed checkpoint at open is recorded, not refused", async () => {
  const { testKey } = await import("./_test_signer.ts");
  const key = await testKey();
  const dir = await Deno.makeTempDir();
  const path = `${dir}/audit.jsonl`;
  const options = {
    fsync: "never" as const,
    anchor: `${dir}/audit.anchor.json`,
    checkpoint: { signer: key.signer, everyRecords: 2 },
  };
  let log = await AuditLog.open(path, options);
  for (let i = 0; i < 4; i++) await log.append({ event: "decided", target: `t${i}` });
  await log.close();
  const anchor = JSON.parse(await Deno.readTextFile(`${dir}/audit.anchor.json`));
  assert.equal(anchor.seq, log.seq, "the anchor names the final checkpoint");
  // The log is deleted while the gateway is down.
  await Deno.remove(path);
  log = await AuditLog.open(path, options);
  await log.close();
  const [first] = records(await Deno.readTextFile(path));
  assert.equal(first.event, "log_shortened");
  assert.deepEqual(first.detail, {
    found_seq: 0,
    signed_seq: anchor.seq,
    signed_hash: anchor.hash,
    signed_at: anchor.time,
  });
  const report = await verifyAuditFile(path);
  assert.ok(report.ok);
  assert.match(
    report.notices[0],
    /at start the log ended at seq 0, but the gateway had signed a checkpoint at seq 7/,
  );
});
