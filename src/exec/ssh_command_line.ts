/**
 * Remote command lines for exec plans over SSH, built only from constants and
 * `quoteArgv`/`quoteArg` output. The SSH worker runs them; dry run shows them.
 * The remote login shell must be a POSIX shell (sh, dash, bash, busybox sh).
 *
 * @module
 */
import { type ExecPlan, sudoFor } from "./plan.ts";
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
 * A command with a probe is chosen when the probe exits 0 (run with the same
 * sudo, output discarded); one without, when its program exists.
 *
 * @param commands The candidate argvs, in order of preference.
 * @param sudo Run the chosen one under sudo.
 * @param probes Per command, an argv that must succeed, or `null`.
 * @returns The script.
 */
export function firstAvailableScript(
  commands: readonly (readonly string[])[],
  sudo: boolean,
  probes: readonly (readonly string[] | null)[] = [],
): string {
  const names = [...new Set(commands.map((argv) => argv[0]))];
  const test = (argv: readonly string[], index: number) => {
    const probe = probes[index];
    return probe
      ? `${sudo ? SUDO_PREFIX : ""}${quoteArgv(probe)}`
      : `command -v ${quoteArg(argv[0])}`;
  };
  const branches = commands.map((argv, index) =>
    `${index === 0 ? "if" : "elif"} ${test(argv, index)} >/dev/null 2>&1; then ` +
    `echo 'tailops:${index}' >&2; ${commandLine(argv, sudo)}; `
  );
  const none = quoteArg(`tailops: none of ${names.join(", ")} is installed`);
  return `${branches.join("")}else echo ${none} >&2; exit 127; fi`;
}

/**
 * Whether the SSH worker runs an exec plan's commands as one
 * {@linkcode sequenceScript} (one channel) instead of one exec each: plans
 * of several commands that run them all. A plan that stops at the first
 * failure keeps one exec per command, so nothing after a failure starts.
 *
 * @param plan The exec plan.
 * @returns Whether one script runs all its commands.
 */
export function runsAsOneScript(plan: ExecPlan): boolean {
  return plan.mode === "all" && plan.commands.length > 1 && plan.stopOnFailure !== true;
}

/** What dry run shows in place of the boundary a {@linkcode sequenceScript} gets per call. */
export const SHOWN_BOUNDARY = "<BOUNDARY>";

/**
 * One remote script that runs several commands in order, each in a subshell
 * (so it may `exec`), and after each writes a marker line on stdout
 * (`BOUNDARY INDEX EXIT`) and on stderr (`BOUNDARY INDEX`), each after a
 * newline of its own: one channel and one round trip instead of one per
 * command. The caller splits the streams at the markers (see
 * `splitSequence` in the SSH worker) and refuses output with more or fewer
 * markers than commands, so output that guesses the boundary cannot pass
 * itself off as another command's.
 *
 * @param plan The exec plan: its commands, in order, each under sudo as {@linkcode sudoFor} says.
 * @param boundary A random token of lowercase hex digits, new for each call,
 *   or {@linkcode SHOWN_BOUNDARY} for dry run.
 * @returns The script.
 * @throws {TypeError} When the boundary is not lowercase hex.
 */
export function sequenceScript(
  plan: Pick<ExecPlan, "commands" | "sudo" | "sudoEach">,
  boundary: string,
): string {
  if (boundary !== SHOWN_BOUNDARY && !/^[0-9a-f]{16,64}$/.test(boundary)) {
    throw new TypeError(`Invalid boundary: expected 16 to 64 hex digits, found ${boundary.length}`);
  }
  return plan.commands.map((argv, index) =>
    `(${
      commandLine(argv, sudoFor(plan, index))
    }); printf '\\n%s %s %s\\n' ${boundary} ${index} $?; ` +
    `printf '\\n%s %s\\n' ${boundary} ${index} >&2`
  ).join("; ");
}
