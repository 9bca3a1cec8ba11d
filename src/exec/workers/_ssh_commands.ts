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

/** `""` with the bytes noted for transfer when stdout is long, else `undefined`. */
function transferable(
  bytes: Uint8Array,
  texts: { list: ResultText[]; index: number } | undefined,
): string | undefined {
  if (!texts || bytes.length < TRANSFER_TEXT_MIN) return undefined;
  texts.list.push({ path: ["commands", texts.index, "stdout"], bytes });
  return "";
}
