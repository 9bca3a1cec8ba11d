/**
 * The output log of a long-running call: lines reassembled from any cut,
 * known secrets masked in every encoding (split across chunks, hidden behind
 * terminal escapes, cut in a long line), and every bound held under a flood.
 *
 * @module
 */
import assert from "node:assert/strict";
import { SecretScanner } from "../../src/audit/secret_scanner.ts";
import {
  BURST,
  LINE_MAX,
  MESSAGE_MAX,
  OutputLog,
  QUEUE_MAX,
  TOTAL_MAX,
} from "../../src/mcp/log_stream.ts";

const SECRET = "tok-Zq9/x+Yw_Sensitive-Credential~0042";

type Sent = { level: string; data: Record<string, unknown> };

function outputLog(totalMax?: number) {
  const sent: Sent[] = [];
  const scanner = new SecretScanner([SECRET]);
  const log = new OutputLog(async (level, data) => {
    await Promise.resolve();
    sent.push({ level, data });
  }, { scrub: (text) => scanner.scan(text), totalMax });
  return { log, sent };
}

const bytes = (text: string) => new TextEncoder().encode(text);
const texts = (sent: Sent[]) => sent.map((s) => String(s.data.text ?? s.data.note)).join("\n");

/** The secret written back in the ways a program might. */
function encodings(secret: string): string[] {
  const raw = bytes(secret);
  const base64 = (data: Uint8Array) => btoa(String.fromCharCode(...data));
  return [
    secret,
    base64(raw),
    base64(new Uint8Array([0x41, ...raw])),
    base64(new Uint8Array([0x41, 0x42, ...raw])).replaceAll("+", "-").replaceAll("/", "_"),
    Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join(""),
    Array.from(raw, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase(),
    [...secret].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join(""),
    encodeURIComponent(secret),
    JSON.stringify({ token: secret }),
    // A terminal escape in the middle of it.
    `${secret.slice(0, 10)}\x1b[1m${secret.slice(10)}`,
  ];
}

Deno.test("OutputLog reassembles lines cut anywhere, UTF-8 characters included", async () => {
  const { log, sent } = outputLog();
  const all = bytes("Unpacking libssl3 (3.0.15) …\nSetting up café\r\nDone\n");
  for (let i = 0; i < all.length; i += 3) {
    log.push("web-1", { stream: "stdout", bytes: all.subarray(i, i + 3) });
  }
  await log.close();
  assert.equal(texts(sent), "Unpacking libssl3 (3.0.15) …\nSetting up café\nDone");
  assert.ok(sent.every((s) => s.level === "info" && s.data.target === "web-1"));
});

Deno.test("OutputLog masks a known secret in every encoding, however the chunks cut it", async () => {
  const lines = encodings(SECRET).map((form, i) => `line ${i}: value=${form} end`);
  const all = bytes(lines.join("\n") + "\n");
  for (const size of [1, 2, 5, 7, 64, all.length]) {
    const { log, sent } = outputLog();
    for (let i = 0; i < all.length; i += size) {
      log.push("web-1", { stream: i % 2 ? "stdout" : "stdout", bytes: all.subarray(i, i + size) });
    }
    await log.close();
    const out = texts(sent);
    assert.equal(out.split("\n").length, lines.length, out);
    for (const form of encodings(SECRET)) {
      assert.ok(!out.includes(form), `chunks of ${size}: ${form} leaked in\n${out}`);
    }
    assert.ok(!out.includes("Sensitive-Credential"), out);
    assert.ok(!out.includes("\x1b"), "escapes are left out");
    assert.equal(out.match(/\[REDACTED\]/g)?.length, lines.length, out);
  }
});

Deno.test("OutputLog masks a secret cut at the end of an over-long line", async () => {
  const { log, sent } = outputLog();
  const line = "x".repeat(LINE_MAX - 12) + SECRET + " and more";
  log.push("web-1", { stream: "stderr", bytes: bytes(line + "\nnext\n") });
  await log.close();
  const out = texts(sent);
  assert.ok(!out.includes(SECRET.slice(0, 12)), out.slice(-80));
  assert.match(out, /\[REDACTED\] \[…\]\nnext$/);
});

Deno.test("OutputLog marks output the worker skipped and ends the open line there", async () => {
  const { log, sent } = outputLog();
  log.push("web-1", { stream: "stdout", bytes: bytes("first\nhalf a li"), skipped: 5000 });
  log.push("web-1", { stream: "stdout", bytes: bytes("ne later\nlast\n") });
  await log.close();
  assert.equal(texts(sent), "first\nhalf a li […]\n[5000 bytes not shown]\nne later\nlast");
});

Deno.test("OutputLog sends a burst at once, the rest at its pace, and all of it by close", async () => {
  const { log, sent } = outputLog();
  const calls: number[] = [];
  // One message per target: 3 × BURST lines cannot go in fewer messages.
  for (let i = 0; i < 3 * BURST; i++) {
    log.push(`t-${i}`, { stream: "stdout", bytes: bytes(`line ${i}\n`) });
    calls.push(i);
  }
  await Promise.resolve();
  await Promise.resolve();
  assert.ok(sent.length <= BURST, `${sent.length} sent at once`);
  await log.close();
  assert.equal(sent.length, 3 * BURST);
  assert.deepEqual(sent.map((s) => s.data.target), calls.map((i) => `t-${i}`));
});

Deno.test("OutputLog stays within its bounds under a flood of output", async () => {
  const { log, sent } = outputLog();
  const line = "y".repeat(200) + "\n";
  const chunk = bytes(line.repeat(300)); // ~60 KB
  for (let i = 0; i < 200; i++) log.push("web-1", { stream: "stdout", bytes: chunk });
  await log.close();
  const outputs = sent.filter((s) => s.data.text !== undefined);
  const total = outputs.reduce((sum, s) => sum + String(s.data.text).length, 0);
  assert.ok(total <= TOTAL_MAX + MESSAGE_MAX, `${total} characters sent`);
  for (const s of outputs) assert.ok(String(s.data.text).length <= MESSAGE_MAX + LINE_MAX);
  // Sent at most: what fits the queue and the burst at once, then the pace, then the notice.
  assert.ok(sent.length <= Math.ceil((QUEUE_MAX + TOTAL_MAX) / 200) + 1, `${sent.length}`);
  assert.ok(outputs.some((s) => Number(s.data.lines_dropped) > 0), "dropped lines are counted");
  // Pushing after the end does nothing.
  log.push("web-1", { stream: "stdout", bytes: chunk });
  await log.close();
  assert.equal(sent.length, outputs.length + sent.filter((s) => s.data.note).length);
});

Deno.test("OutputLog stops with one notice once a call has sent its total", async () => {
  const { log, sent } = outputLog(10_000);
  const line = "z".repeat(1000) + "\n";
  for (let i = 0; i < 40; i++) {
    log.push("web-1", { stream: "stdout", bytes: bytes(line.repeat(4)) });
  }
  await log.close();
  assert.ok(sent.filter((s) => s.data.text).length <= 4, `${sent.length} messages`);
  const notes = sent.filter((s) => s.data.note !== undefined);
  assert.equal(notes.length, 1, `${sent.length} messages`);
  assert.equal(notes[0].level, "notice");
  assert.equal(sent.at(-1), notes[0]);
});
