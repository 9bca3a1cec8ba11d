/**
 * Signal plans over SSH: one remote script (constants and `quoteArg` output
 * only) that finds the processes, refuses the ones that run the call itself
 * and sends the signal, in the same shell, so nothing can change between
 * the check and the `kill` but the process's own exit.
 *
 * The script reads `/proc` (Linux): `/proc/PID/stat` for the parent and
 * session (the fields after the last `) `, so a name holding `) ` cannot shift
 * them) and `/proc/PID/comm` for the name (its first line: a name holding a
 * newline cannot forge a line of output). It refuses pid 1, its own shell
 * and every ancestor of it (the SSH session's processes, up to init), and
 * every process of its own session (the `kill` it runs, and `sudo`). By name
 * it counts the matches first and sends nothing when more than
 * `MAX_SIGNALLED` match. One output line per process:
 * `M PID PPID USER REFUSED NAME`, then `K PID EXIT MESSAGE` after a kill;
 * `T` alone when there were too many.
 *
 * @module
 */
import {
  killOutcome,
  MAX_SIGNALLED,
  signalArgv,
  type SignalledProcess,
  type SignalPlan,
  type SignalResult,
} from "../plan.ts";
import { quoteArg } from "../quote.ts";
import { SshError } from "./_ssh_errors.ts";
import type { RawRun } from "./_ssh_exec.ts";

/** Exit code of the script when `/proc` cannot be read. */
const NO_PROC = 70;

// The script's kill must be what signalArgv says: `kill -s SIG PID`, after `sudo -n --` with sudo.

/**
 * The remote script for a signal plan.
 *
 * @param plan The plan (signal from the fixed list, pid an integer, name quoted).
 * @returns The script.
 */
export function signalScript(plan: SignalPlan): string {
  const pid = plan.pid === undefined ? "" : String(Math.trunc(plan.pid));
  return [
    `sig=${quoteArg(plan.signal)} want=${quoteArg(pid)} name=${quoteArg(plan.name ?? "")}`,
    `send=${plan.send ? 1 : 0} max=${MAX_SIGNALLED}`,
    // f_ppid and f_sid of process $1, from the fields after the name in /proc/$1/stat.
    "fields() { IFS= read -r st < /proc/$1/stat 2>/dev/null || return 1; st=${st##*) }; " +
    "st=${st#* }; f_ppid=${st%% *}; st=${st#* }; st=${st#* }; f_sid=${st%% *}; }",
    `fields $$ || { echo 'tailops: cannot read /proc on this host' >&2; exit ${NO_PROC}; }`,
    "my_sid=$f_sid; prot=' '; p=$$",
    'while [ "$p" -gt 0 ] 2>/dev/null; do prot="$prot$p "; fields "$p" || break; p=$f_ppid; done',
    "emit() {",
    '  fields "$1" || return 0',
    '  IFS= read -r comm < "/proc/$1/comm" 2>/dev/null || return 0',
    '  user=$(stat -c %U "/proc/$1" 2>/dev/null); why=-',
    '  case "$prot" in *" $1 "*) why=ancestor;; esac',
    '  [ "$f_sid" = "$my_sid" ] && [ "$why" = - ] && why=session',
    '  [ "$1" = 1 ] && why=init',
    `  printf 'M %s %s %s %s %s\\n' "$1" "$f_ppid" "\${user:-?}" "$why" "$comm"`,
    '  [ "$why" = - ] && [ "$send" = 1 ] || return 0',
    `  err=$(${plan.sudo ? "sudo -n -- " : ""}kill -s "$sig" "$1" 2>&1); rc=$?`,
    `  printf 'K %s %s %s\\n' "$1" "$rc" "$(printf %s "$err" | tr '\\n' ' ')"`,
    "}",
    'if [ -n "$want" ]; then emit "$want"; exit 0; fi',
    "n=0",
    'for d in /proc/[0-9]*; do IFS= read -r c < "$d/comm" 2>/dev/null && [ "$c" = "$name" ] && n=$((n+1)); done',
    'if [ "$n" -gt "$max" ]; then echo T; exit 0; fi',
    'for d in /proc/[0-9]*; do IFS= read -r c < "$d/comm" 2>/dev/null && [ "$c" = "$name" ] && emit "${d#/proc/}"; done',
    "exit 0",
  ].join("\n");
}

const M_LINE = /^M (\d+) (\d+) (\S+) (-|ancestor|session|init) (.*)$/;
const K_LINE = /^K (\d+) (\d+) ?(.*)$/;

/**
 * Reads what the signal script printed.
 *
 * @param run The script's run.
 * @param target The target's id, for messages.
 * @returns The processes and what was done to each.
 * @throws {SshError} `bad_response` without a readable `/proc` or on output it did not write.
 */
export function parseSignalRun(run: RawRun, plan: SignalPlan, target: string): SignalResult {
  const stdout = new TextDecoder().decode(run.stdout);
  if (run.exitCode === NO_PROC) {
    throw new SshError(
      "bad_response",
      `Cannot list processes on ${
        JSON.stringify(target)
      }: expected a Linux /proc, found none readable`,
    );
  }
  if (run.exitCode !== 0 || run.truncated) {
    throw new SshError(
      "bad_response",
      `The process script on ${JSON.stringify(target)} ended with exit code ${run.exitCode}`,
    );
  }
  const lines = stdout.split("\n").filter((line) => line !== "");
  if (lines.length === 1 && lines[0] === "T") {
    return { kind: "signal", processes: [], tooMany: true };
  }
  const processes: SignalledProcess[] = [];
  for (const line of lines) {
    const m = M_LINE.exec(line);
    if (m) {
      const refused = m[4] === "-" ? null : m[4] as SignalledProcess["refused"];
      processes.push({
        pid: Number(m[1]),
        ppid: Number(m[2]),
        user: m[3],
        name: m[5],
        refused,
        ...(refused === null ? { argv: signalArgv(plan, true, m[1]) } : {}),
        outcome: "matched",
      });
      continue;
    }
    const k = K_LINE.exec(line);
    const last = processes.at(-1);
    if (!k || !last || last.pid !== Number(k[1]) || last.refused !== null) {
      throw new SshError(
        "bad_response",
        `The process script on ${JSON.stringify(target)} printed a line it should not have`,
      );
    }
    processes[processes.length - 1] = killOutcome(last, Number(k[2]), k[3].trim());
  }
  return { kind: "signal", processes, tooMany: false };
}
