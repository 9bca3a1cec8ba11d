/**
 * Signal plans on the gateway host. The worker lists every process with
 * procps `ps`, refuses pid 1 and the gateway's own (this process, which the
 * workers share, its ancestors, every process of its session and every
 * descendant: the programs it runs), then runs `kill -s SIG -- PID` once
 * per process left. The listing and the kill are two programs: a process
 * that exits in between is reported `gone` by `kill`; its pid being reused
 * by a new process within that window is the race every pid-based kill has.
 *
 * Needs `run` for `ps` and `kill` (the operation's programs); nothing else.
 *
 * @module
 */
import {
  type CommandResult,
  killOutcome,
  MAX_SIGNALLED,
  signalArgv,
  type SignalledProcess,
  type SignalPlan,
  type SignalRefusal,
  type SignalResult,
} from "../plan.ts";

/** One row of the process list. */
export interface ProcessRow {
  readonly pid: number;
  readonly ppid: number;
  readonly sid: number;
  readonly user: string;
  readonly name: string;
}

/** The argv that lists processes: the name last, so it may hold spaces. */
export const PS_ARGV = ["ps", "-e", "-o", "pid=,ppid=,sid=,user=,comm="] as const;

const ROW = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s(.*)$/;

/**
 * Reads `ps` output.
 *
 * @param stdout What {@linkcode PS_ARGV} printed.
 * @returns One row per process.
 */
export function parseProcessRows(stdout: string): ProcessRow[] {
  return stdout.split("\n").flatMap((line) => {
    const m = ROW.exec(line);
    return m
      ? [{
        pid: Number(m[1]),
        ppid: Number(m[2]),
        sid: Number(m[3]),
        user: m[4],
        name: m[5].trim(),
      }]
      : [];
  });
}

/**
 * Why each process must not be signalled from this process: pid 1, this
 * process, its ancestors, its session, its descendants.
 *
 * @param rows The process list.
 * @param self This process's pid.
 * @returns The refused pids and why.
 */
export function refusedPids(rows: readonly ProcessRow[], self: number): Map<number, SignalRefusal> {
  const byPid = new Map(rows.map((row) => [row.pid, row]));
  const refused = new Map<number, SignalRefusal>();
  // First reason wins: init, this process, ancestors, descendants, then the rest of the session.
  const mark = (pid: number, why: SignalRefusal) => {
    if (!refused.has(pid)) refused.set(pid, why);
  };
  mark(1, "init");
  mark(self, "gateway");
  for (let p = byPid.get(self)?.ppid; p !== undefined && p > 0; p = byPid.get(p)?.ppid) {
    if (refused.get(p) === "ancestor") break;
    mark(p, "ancestor");
  }
  const children = new Map<number, number[]>();
  for (const row of rows) children.set(row.ppid, [...(children.get(row.ppid) ?? []), row.pid]);
  const seen = new Set<number>();
  for (const todo = [...(children.get(self) ?? [])]; todo.length > 0;) {
    const pid = todo.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    mark(pid, "descendant");
    todo.push(...(children.get(pid) ?? []));
  }
  const sid = byPid.get(self)?.sid;
  for (const row of rows) if (sid !== undefined && row.sid === sid) mark(row.pid, "session");
  return refused;
}

/**
 * Runs a signal plan on this host.
 *
 * @param plan The plan.
 * @param run Runs one argv of the operation's programs (the local worker's runner).
 * @returns The processes matched and what was done to each.
 * @throws {Error} What `run` throws; a `ps` that fails is reported by the caller's result.
 */
export async function signalLocally(
  plan: SignalPlan,
  run: (argv: readonly string[]) => Promise<CommandResult>,
): Promise<SignalResult | { psFailed: CommandResult }> {
  const listed = await run(PS_ARGV);
  if (listed.exitCode !== 0 || listed.truncated) return { psFailed: listed };
  const rows = parseProcessRows(listed.stdout);
  const refused = refusedPids(rows, Deno.pid);
  const matches = rows.filter((row) =>
    plan.pid !== undefined ? row.pid === plan.pid : row.name === plan.name
  );
  if (plan.pid === undefined && matches.length > MAX_SIGNALLED) {
    return { kind: "signal", processes: [], tooMany: true };
  }
  const processes: SignalledProcess[] = [];
  for (const row of matches) {
    const why = refused.get(row.pid) ?? null;
    const argv = signalArgv(plan, false, String(row.pid));
    const process: SignalledProcess = {
      pid: row.pid,
      ppid: row.ppid,
      user: row.user,
      name: row.name,
      refused: why,
      ...(why === null ? { argv } : {}),
      outcome: "matched",
    };
    if (!plan.send || why !== null) {
      processes.push(process);
      continue;
    }
    const killed = await run(argv);
    processes.push(killOutcome(process, killed.exitCode ?? -1, killed.stderr));
  }
  return { kind: "signal", processes, tooMany: false };
}
