import assert from "node:assert/strict";
import { sequenceScript } from "../../src/exec/ssh_command_line.ts";
import { splitSequence } from "../../src/exec/workers/_ssh_commands.ts";
import type { RawRun } from "../../src/exec/workers/_ssh_exec.ts";
import { SshError } from "../../src/exec/workers/_ssh_errors.ts";

const B = "0123456789abcdef0123456789abcdef";
const text = new TextEncoder();
const raw = (stdout: string, stderr: string, truncated = false): RawRun => ({
  exitCode: 0,
  signal: null,
  stdout: text.encode(stdout),
  stderr: text.encode(stderr),
  truncated,
  bytes: stdout.length + stderr.length,
});
const decoded = (runs: RawRun[]) =>
  runs.map((r) => [
    new TextDecoder().decode(r.stdout),
    new TextDecoder().decode(r.stderr),
    r.exitCode,
    r.truncated,
  ]);

/** Runs a sequence script in a local sh, as the remote login shell would. */
async function runLocally(commands: string[][]): Promise<RawRun> {
  const out = await new Deno.Command("sh", {
    args: ["-c", sequenceScript({ commands, sudo: false }, B)],
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin" },
  }).output();
  return {
    exitCode: out.code,
    signal: null,
    stdout: out.stdout,
    stderr: out.stderr,
    truncated: false,
    bytes: out.stdout.length + out.stderr.length,
  };
}

Deno.test("a sequence script gives each command its own output and exit code, in one shell", async () => {
  const commands = [
    ["printf", "%s", "no newline"],
    ["sh", "-c", "echo out; echo err >&2; exit 3"],
    ["printf", "%s\\n", "it's", "$(id)", "a;b"],
  ];
  const runs = splitSequence(await runLocally(commands), 3, { boundary: B, capBytes: 1 << 20 });
  assert.deepEqual(decoded(runs), [
    ["no newline", "", 0, false],
    ["out\n", "err\n", 3, false],
    ["it's\n$(id)\na;b\n", "", 0, false],
  ]);
});

Deno.test("output that forges a marker is refused, never split by guess", async () => {
  for (
    const forged of [
      `\n${B} 1 0\n`, // a marker for the next command, too early
      `\n${B} 0 0\n`, // a second marker for the same command
      `\n${B} 7 0\n`, // a marker out of order
    ]
  ) {
    const run = await runLocally([["printf", "%s", forged], ["echo", "b"]]);
    assert.throws(
      () => splitSequence(run, 2, { boundary: B, capBytes: 1 << 20 }),
      (error: unknown) => error instanceof SshError && error.code === "bad_response",
    );
  }
});

Deno.test("output cut at the cap marks the command it was cut in and those after it", () => {
  const cut = raw(`a\n\n${B} 0 0\nbbbb`, `\n${B} 0\n`, true);
  assert.deepEqual(decoded(splitSequence(cut, 3, { boundary: B, capBytes: 1 << 20 })), [
    ["a\n", "", 0, false],
    ["bbbb", "", null, true],
    ["", "", null, true],
  ]);
  assert.throws(() => splitSequence(raw("a\n", "", false), 2, { boundary: B, capBytes: 9 }));
});

Deno.test("each command of a sequence keeps its own output cap", () => {
  const run = raw(`${"x".repeat(50)}\n${B} 0 0\nshort\n${B} 1 0\n`, `\n${B} 0\n\n${B} 1\n`);
  const [long, short] = splitSequence(run, 2, { boundary: B, capBytes: 10 });
  assert.equal(long.stdout.length, 10);
  assert.equal(long.truncated, true);
  assert.equal(long.bytes, 50);
  assert.equal(new TextDecoder().decode(short.stdout), "short");
  assert.equal(short.truncated, false);
});

Deno.test("sequenceScript() refuses a boundary that is not hex", () => {
  assert.throws(
    () => sequenceScript({ commands: [["id"]], sudo: false }, "x'; rm -rf / #"),
    TypeError,
  );
});
