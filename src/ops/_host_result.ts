/**
 * Helpers the host operations' parsers share: pick command results out of an
 * executor result and turn the common failures (program missing, no systemd,
 * permission denied) into {@link OperationError}s with plain sentences.
 *
 * @module
 */
import type { CommandResult, PlanResult } from "../exec/plan.ts";
import { OperationError } from "./operation.ts";

/**
 * The command results of an exec result, checked for count.
 *
 * @param result What the executor returned.
 * @param count How many commands the plan ran (at least).
 * @returns The command results.
 * @throws {OperationError} `bad_output` when the result is not an exec result
 *   or holds fewer commands than expected.
 */
export function execCommands(result: PlanResult, count = 1): readonly CommandResult[] {
  if (result.kind !== "exec" || result.commands.length < count) {
    throw new OperationError(
      "bad_output",
      `Expected the results of ${count} command(s), found ${
        result.kind === "exec" ? result.commands.length : `a ${result.kind} result`
      }`,
    );
  }
  return result.commands;
}

/**
 * Whether a command failed because its program is not installed.
 *
 * @param cmd A command result.
 * @returns `true` for exit 127 (what every POSIX shell, and so SSH exec, reports)
 *   or a shell's "PROGRAM: not found" / "PROGRAM: command not found".
 */
export function isProgramMissing(cmd: CommandResult): boolean {
  if (cmd.exitCode === 127) return true;
  if (cmd.exitCode === 0 || cmd.argv[0] === undefined) return false;
  // Only the shell's own message counts: "cat: /x: No such file" is not a missing cat.
  const program = cmd.argv[0].replace(/[.+]/g, "\\$&");
  return new RegExp(`(?:^|: )${program}: (?:command )?not found$`, "m").test(cmd.stderr);
}

const NO_SYSTEMD =
  /System has not been booted with systemd|Failed to connect to bus|systemd is not running/;

/**
 * Throws the errors every host command can meet: the program is missing, it
 * was killed, or (for systemd tools) systemd is not running.
 *
 * @param cmd A command result.
 * @param hint What to install when the program is missing, e.g. `"procps"`.
 * @throws {OperationError} `program_missing`, `unsupported` or `bad_output`.
 */
export function throwCommonFailure(cmd: CommandResult, hint: string): void {
  const program = cmd.argv[0] ?? "the program";
  if (isProgramMissing(cmd)) {
    throw new OperationError(
      "program_missing",
      `"${program}" is not installed on this host (install ${hint})`,
    );
  }
  if (cmd.exitCode === null) {
    throw new OperationError(
      "bad_output",
      `"${program}" was killed by signal ${cmd.signal ?? "unknown"} before it finished`,
    );
  }
  if ((program === "systemctl" || program === "journalctl") && NO_SYSTEMD.test(cmd.stderr)) {
    throw new OperationError("unsupported", "systemd is not running on this host");
  }
}

/**
 * The first line of a command's error output, cut to a readable length, for
 * messages that quote what the program said.
 *
 * @param cmd A command result.
 * @returns One line, at most 200 characters.
 */
export function firstErrorLine(cmd: CommandResult): string {
  const lines = cmd.stderr.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  // A Python program's traceback (docker-compose v1, for one) says what went
  // wrong on its last line, not its first.
  const line = (lines[0] === "Traceback (most recent call last):" ? lines.at(-1) : lines[0]) ??
    `exit code ${cmd.exitCode}`;
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * Throws `bad_output` with a sentence naming the program.
 *
 * @param program The program whose output could not be read.
 * @param what What was expected, e.g. `"a load average line"`.
 * @throws {OperationError} Always.
 */
export function badOutput(program: string, what: string): never {
  throw new OperationError(
    "bad_output",
    `Cannot read the output of "${program}": expected ${what}`,
  );
}
