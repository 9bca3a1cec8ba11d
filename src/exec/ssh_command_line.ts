/**
 * Remote command lines for exec plans over SSH, built only from constants and
 * `quoteArgv`/`quoteArg` output. The SSH worker runs them; dry run shows them.
 * The remote login shell must be a POSIX shell (sh, dash, bash, busybox sh).
 *
 * @module
 */
import { quoteArg, quoteArgv } from "./quote.ts";

/** Prefix of commands that run under sudo: never prompts, options end at `--`. */
export const SUDO_PREFIX = "sudo -n -- ";

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
