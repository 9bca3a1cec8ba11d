import assert from "node:assert/strict";
import { canonicalJson, sha256Hex } from "../../src/audit/canonical_json.ts";
import { GENESIS_HASH } from "../../src/audit/record.ts";
import { verifyAuditFile, verifyAuditText, type VerifyReport } from "../../src/audit/verify.ts";
import { AuditLog } from "../../src/audit/writer.ts";
import { chainOf } from "./_chain_of.ts";

/** Writes a log of `count` records and returns its lines (without the final empty one). */
async function makeLog(count: number): Promise<{ lines: string[]; lastHash: string }> {
  const path = `${await Deno.makeTempDir()}/audit.jsonl`;
  const log = await AuditLog.open(path, { fsync: "never" });
  for (let i = 0; i < count; i++) {
    await log.append({
      event: "decided",
      identity: "alïce",
      tool: "logs_read",
      target: `web-${i}`,
    });
  }
  await log.close();
  const lines = Deno.readTextFileSync(path).split("\n");
  assert.equal(lines.pop(), "");
  return { lines, lastHash: log.lastHash };
}

/** Verifies the text both in memory and as a streamed file; both must agree. */
async function verifyBoth(text: string): Promise<VerifyReport> {
  const fromText = await verifyAuditText(text);
  const path = await Deno.makeTempFile();
  Deno.writeTextFileSync(path, text);
  assert.deepEqual(await verifyAuditFile(path), fromText);
  return fromText;
}

function failure(report: VerifyReport) {
  assert.equal(report.ok, false, JSON.stringify(report));
  const { seq, line, reason } = report as Extract<VerifyReport, { ok: false }>;
  return { seq, line, reason };
}

const join = (lines: string[]) => lines.map((line) => line + "\n").join("");

Deno.test("verify reports ok, the count and the last hash for an intact log", async () => {
  const { lines, lastHash } = await makeLog(10);
  assert.deepEqual(chainOf(await verifyBoth(join(lines))), { ok: true, count: 10, lastHash });
});

Deno.test("verify reports ok with the genesis hash for an empty log", async () => {
  assert.deepEqual(chainOf(await verifyBoth("")), { ok: true, count: 0, lastHash: GENESIS_HASH });
});

Deno.test("verify reports an edited field as edited at that record's seq", async () => {
  const { lines } = await makeLog(10);
  lines[4] = lines[4].replace('"web-4"', '"web-X"');
  const report = await verifyBoth(join(lines));
  assert.deepEqual(failure(report), { seq: 5, line: 5, reason: "edited" });
});

Deno.test("verify catches an edited record whose hash was recomputed at the next record", async () => {
  const { lines } = await makeLog(10);
  const record = JSON.parse(lines[4]);
  record.target = "web-X";
  delete record.hash;
  record.hash = await sha256Hex(canonicalJson(record));
  lines[4] = JSON.stringify(record);
  const report = await verifyBoth(join(lines));
  assert.deepEqual(failure(report), { seq: 6, line: 6, reason: "deleted_or_reordered" });
});

Deno.test("verify reports a deleted line at the seq that is missing", async () => {
  const { lines } = await makeLog(10);
  lines.splice(3, 1);
  const report = await verifyBoth(join(lines));
  assert.deepEqual(failure(report), { seq: 4, line: 4, reason: "deleted_or_reordered" });
  assert.equal((report as { message: string }).message, "Expected seq 4, found 5");
});

Deno.test("verify reports a deleted first line at seq 1", async () => {
  const { lines } = await makeLog(3);
  const report = await verifyBoth(join(lines.slice(1)));
  assert.deepEqual(failure(report), { seq: 1, line: 1, reason: "deleted_or_reordered" });
});

Deno.test("verify reports two swapped lines at the first of them", async () => {
  const { lines } = await makeLog(10);
  [lines[2], lines[3]] = [lines[3], lines[2]];
  const report = await verifyBoth(join(lines));
  assert.deepEqual(failure(report), { seq: 3, line: 3, reason: "deleted_or_reordered" });
});

Deno.test("verify reports a truncated last line as truncated", async () => {
  const { lines } = await makeLog(10);
  const text = join(lines).slice(0, -40);
  const report = await verifyBoth(text);
  assert.deepEqual(failure(report), { seq: 10, line: 10, reason: "truncated" });
});

Deno.test("verify reports a last record that lost only its newline as truncated", async () => {
  const { lines } = await makeLog(3);
  const report = await verifyBoth(join(lines).slice(0, -1));
  assert.deepEqual(failure(report), { seq: 3, line: 3, reason: "truncated" });
});

Deno.test("verify reports appended garbage after the last record", async () => {
  const { lines } = await makeLog(10);
  let report = await verifyBoth(join(lines) + "garbage\n");
  assert.deepEqual(failure(report), { seq: 11, line: 11, reason: "invalid_record" });
  report = await verifyBoth(join(lines) + "garbage");
  assert.deepEqual(failure(report), { seq: 11, line: 11, reason: "truncated" });
});

Deno.test("verify reports a blank line and a record missing a field as invalid records", async () => {
  const { lines } = await makeLog(4);
  let report = await verifyBoth(join([...lines.slice(0, 2), "", ...lines.slice(2)]));
  assert.deepEqual(failure(report), { seq: 3, line: 3, reason: "invalid_record" });
  const record = JSON.parse(lines[1]);
  delete record.prev;
  lines[1] = JSON.stringify(record);
  report = await verifyBoth(join(lines));
  assert.deepEqual(failure(report), { seq: 2, line: 2, reason: "invalid_record" });
  assert.match((report as { message: string }).message, /field "prev"/);
});

Deno.test("verifyAuditFile() streams a log larger than one read chunk", async () => {
  const { lines, lastHash } = await makeLog(1500);
  // Every line holds a two-byte character, so some chunk borders fall inside one.
  const path = await Deno.makeTempFile();
  Deno.writeTextFileSync(path, join(lines));
  assert.ok(Deno.statSync(path).size > 256 * 1024);
  assert.deepEqual(chainOf(await verifyAuditFile(path)), { ok: true, count: 1500, lastHash });
  lines[1400] = lines[1400].replace('"alïce"', '"alice"');
  Deno.writeTextFileSync(path, join(lines));
  assert.deepEqual(failure(await verifyAuditFile(path)), {
    seq: 1401,
    line: 1401,
    reason: "edited",
  });
});
