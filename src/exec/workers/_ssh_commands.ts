/**
 * Reading what remote command lines (see ../ssh_command_line.ts) produced.
 * The remote login shell must be a POSIX shell (sh, dash, bash, busybox sh).
 *
 * @module
 */
import type { CommandResult } from "../plan.ts";
import { type ResultText, TRANSFER_TEXT_MIN } from "../protocol.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";

/** The first line a `first_available` script writes to stderr: `tailops:INDEX`. */
const MARKER = /^tailops:(\d+)\n/;

/**
 * Reads which command a `first_available` script ran and strips its marker.
 *
 * @param run The script's run.
 * @returns The index ran and the run without the marker, or `null` index when none was installed.
 */
export function readFirstAvailable(run: RawRun): { index: number | null; run: RawRun } {
  const head = new TextDecoder().decode(run.stderr.subarray(0, 32));
  const match = MARKER.exec(head);
  if (!match) return { index: null, run };
  const cut = new TextEncoder().encode(match[0]).length;
  return { index: Number(match[1]), run: { ...run, stderr: run.stderr.subarray(cut) } };
}

/**
 * Turns a run into a result, or a failure when the program is missing or sudo refused.
 *
 * @param argv The argv that ran (without sudo).
 * @param run What it produced.
 * @param context Target id, whether sudo was used, and where a long stdout's
 *   bytes go instead of a string (`texts`, with the command's index).
 * @returns The command result.
 * @throws {SshError} `program_missing` or `forbidden` (sudo needs a password or refused).
 */
export function toCommandResult(
  argv: readonly string[],
  run: RawRun,
  context: { target: string; sudo: boolean; texts?: { list: ResultText[]; index: number } },
): CommandResult {
  const decoder = new TextDecoder();
  const stderr = decoder.decode(run.stderr);
  const sudoMissing = context.sudo && run.exitCode === 127 &&
    /\bsudo: (command )?not found/.test(stderr);
  const program = sudoMissing ? "sudo" : argv[0];
  const missing = sudoMissing || (run.exitCode === 127 && /not found/.test(stderr)) ||
    (context.sudo && run.exitCode === 1 && stderr.includes(`sudo: ${program}: command not found`));
  if (missing) {
    throw new SshError(
      "program_missing",
      `Cannot run ${JSON.stringify(program)} on ${
        JSON.stringify(context.target)
      }: it is not installed`,
    );
  }
  if (
    context.sudo && run.exitCode === 1 &&
    /^sudo: (a password is required|a terminal is required)/m.test(stderr)
  ) {
    throw new SshError(
      "forbidden",
      `Cannot run ${JSON.stringify(program)} with sudo on ${JSON.stringify(context.target)}: ` +
        "expected passwordless sudo (NOPASSWD), found a password prompt",
    );
  }
  return {
    argv: [...argv],
    exitCode: run.exitCode,
    signal: run.signal,
    stdout: transferable(run.stdout, context.texts) ?? decoder.decode(run.stdout),
    stderr,
    truncated: run.truncated,
    bytes: run.bytes,
  };
}

const LF = 10;

/**
 * Where each `\nBOUNDARY INDEX[ EXIT]\n` marker starts and ends, or `null`
 * when they are not 0, 1, 2… in order, at most `count` of them.
 */
function markers(
  bytes: Uint8Array,
  count: number,
  boundary: string,
): { start: number; end: number; rest: string }[] | null {
  const needle = new TextEncoder().encode(`\n${boundary} `);
  const found = [];
  for (let from = 0;;) {
    let at = -1;
    for (let i = bytes.indexOf(LF, from); i >= 0; i = bytes.indexOf(LF, i + 1)) {
      if (i + needle.length > bytes.length) break;
      let same = true;
      for (let k = 1; k < needle.length && same; k++) same = bytes[i + k] === needle[k];
      if (same) {
        at = i;
        break;
      }
    }
    if (at < 0) break;
    const lineEnd = bytes.indexOf(LF, at + needle.length);
    if (lineEnd < 0) break;
    const rest = new TextDecoder().decode(bytes.subarray(at + needle.length, lineEnd));
    if (found.length >= count || rest.split(" ")[0] !== String(found.length)) return null;
    found.push({ start: at, end: lineEnd + 1, rest });
    from = lineEnd + 1;
  }
  return found;
}

/** One stream's part for each command; parts past the last marker are the cut remainder, then empty. */
function parts(
  bytes: Uint8Array,
  found: readonly { start: number; end: number }[],
  count: number,
): { bytes: Uint8Array; whole: boolean }[] {
  const out = [];
  for (let i = 0; i < count; i++) {
    const from = i === 0 ? 0 : found[i - 1]?.end ?? bytes.length;
    const whole = i < found.length;
    out.push({
      bytes: bytes.slice(Math.min(from, bytes.length), whole ? found[i].start : bytes.length),
      whole,
    });
  }
  return out;
}

/**
 * Splits the run of a `sequenceScript` into one run per command. Output cut
 * at the cap leaves the command it was cut in, and those after it,
 * `truncated` (the latter empty, exit code unknown).
 *
 * @param run What the script produced.
 * @param count How many commands it ran.
 * @param options The script's boundary, and each command's own output cap.
 * @returns The runs in order.
 * @throws {SshError} `bad_response` when the markers are out of order, more than
 *   one per command, or missing from output that was not cut.
 */
export function splitSequence(
  run: RawRun,
  count: number,
  options: { boundary: string; capBytes: number },
): RawRun[] {
  const { boundary, capBytes } = options;
  const out = markers(run.stdout, count, boundary);
  const err = markers(run.stderr, count, boundary);
  if (
    out === null || err === null ||
    (!run.truncated && (out.length !== count || err.length !== count))
  ) {
    throw new SshError(
      "bad_response",
      "The commands' output held markers that do not match the commands: refusing to guess which output is whose",
    );
  }
  const stdout = parts(run.stdout, out, count);
  const stderr = parts(run.stderr, err, count);
  return stdout.map((o, i) => {
    const code = i < out.length ? Number(out[i].rest.split(" ")[1]) : NaN;
    const e = stderr[i];
    return {
      exitCode: Number.isInteger(code) ? code : null,
      signal: null,
      // Each command keeps its own cap, as when it ran alone.
      stdout: o.bytes.subarray(0, capBytes),
      stderr: e.bytes.subarray(0, capBytes),
      truncated: !o.whole || !e.whole || o.bytes.length > capBytes || e.bytes.length > capBytes,
      bytes: o.bytes.length + e.bytes.length,
    };
  });
}

/** `""` with the bytes noted for transfer when stdout is long, else `undefined`. */
function transferable(
  bytes: Uint8Array,
  texts: { list: ResultText[]; index: number } | undefined,
): string | undefined {
  if (!texts || bytes.length < TRANSFER_TEXT_MIN) return undefined;
  texts.list.push({ path: ["commands", texts.index, "stdout"], bytes });
  return "";
}
