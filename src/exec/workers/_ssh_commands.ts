/**
 * Remote command lines for exec plans, built only from constants and
 * `quoteArgv`/`quoteArg` output, and the reading of what they produced.
 * The remote login shell must be a POSIX shell (sh, dash, bash, busybox sh).
 *
 * @module
 */
import type { CommandResult } from "../plan.ts";
import { quoteArg, quoteArgv } from "../quote.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";

/** Prefix of commands that run under sudo: never prompts, options end at `--`. */
export const SUDO_PREFIX = "sudo -n -- ";
/** The first line a `first_available` script writes to stderr: `tailops:INDEX`. */
const MARKER = /^tailops:(\d+)\n/;

/**
 * The command line for one argv. It starts with `exec` so the program
 * replaces the remote shell: its exit signal is reported as such, and a
 * `KILL` sent on the channel reaches it.
 *
 * @param argv Program and arguments.
 * @param sudo Prefix {@linkcode SUDO_PREFIX}.
 * @returns The remote command line.
 */
export function commandLine(argv: readonly string[], sudo: boolean): string {
  return "exec " + (sudo ? SUDO_PREFIX : "") + quoteArgv(argv);
}

/**
 * One remote script that runs the first command whose program exists, so
 * `first_available` stays one round trip. It writes `tailops:INDEX` as the
 * first stderr line before `exec`, so the caller knows which one ran.
 *
 * @param commands The candidate argvs, in order of preference.
 * @param sudo Run the chosen one under sudo.
 * @returns The script.
 */
export function firstAvailableScript(
  commands: readonly (readonly string[])[],
  sudo: boolean,
): string {
  const names = [...new Set(commands.map((argv) => argv[0]))];
  const branches = commands.map((argv, index) =>
    `${index === 0 ? "if" : "elif"} command -v ${quoteArg(argv[0])} >/dev/null 2>&1; then ` +
    `echo 'tailops:${index}' >&2; ${commandLine(argv, sudo)}; `
  );
  const none = quoteArg(`tailops: none of ${names.join(", ")} is installed`);
  return `${branches.join("")}else echo ${none} >&2; exit 127; fi`;
}

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
 * @param context Target id and whether sudo was used.
 * @returns The command result.
 * @throws {SshError} `program_missing` or `forbidden` (sudo needs a password or refused).
 */
export function toCommandResult(
  argv: readonly string[],
  run: RawRun,
  context: { target: string; sudo: boolean },
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
    stdout: decoder.decode(run.stdout),
    stderr,
    truncated: run.truncated,
    bytes: run.bytes,
  };
}
