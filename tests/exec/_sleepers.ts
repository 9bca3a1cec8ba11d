/**
 * Processes for signal tests: copies of `sleep` under a unique name (so a
 * test signalling by name can only ever reach its own processes on a shared
 * machine), each in its own session, optionally as another user. Stopped by
 * PID.
 *
 * @module
 */

/** Running sleepers. */
export interface Sleepers {
  /** Their process name (`comm`): unique to this set. */
  readonly name: string;
  readonly pids: readonly number[];
  /** How many are still running. */
  alive(): Promise<number>;
  /** Waits for one to end; the signal that ended it (`null` when it exited). */
  exitSignal(pid: number): Promise<string | null>;
  /** Kills what is left and removes the copy. */
  stop(): Promise<void>;
}

/**
 * Starts `count` sleepers.
 *
 * @param count How many.
 * @param options `user`: run them as this user (with runuser; needs root).
 * @returns The sleepers.
 */
export async function startSleepers(
  count: number,
  options: { user?: string } = {},
): Promise<Sleepers> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-sleep-" });
  await Deno.chmod(dir, 0o755);
  const name = `tosig-${crypto.randomUUID().slice(0, 8)}`;
  const path = `${dir}/${name}`;
  await Deno.copyFile("/bin/sleep", path);
  await Deno.chmod(path, 0o755);
  const prefix = options.user ? ["runuser", "-u", options.user, "--"] : [];
  const children = new Map<number, Deno.ChildProcess>();
  for (let i = 0; i < count; i++) {
    // setsid: each in a session of its own, as a service would be, not in the test's.
    const argv = ["setsid", "--wait", ...prefix, path, "600"];
    const child = new Deno.Command(argv[0], {
      args: argv.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    children.set(child.pid, child);
  }
  // setsid execs the sleeper (it is not a group leader), or runuser forks it: the sleeper is
  // the spawned process itself or its child.
  const comm = (pid: number | string) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    } catch {
      return "";
    }
  };
  const parentOf = new Map<number, number>();
  const deadline = Date.now() + 20_000;
  while (parentOf.size < count) {
    parentOf.clear();
    for (const spawned of children.keys()) {
      if (comm(spawned) === name) parentOf.set(spawned, spawned);
    }
    for (const entry of Deno.readDirSync("/proc")) {
      if (!/^\d+$/.test(entry.name) || comm(entry.name) !== name) continue;
      try {
        const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
        const ppid = Number(stat.slice(stat.lastIndexOf(") ") + 2).split(" ")[1]);
        if (children.has(ppid)) parentOf.set(Number(entry.name), ppid);
      } catch {
        // Gone.
      }
    }
    if (parentOf.size >= count) break;
    if (Date.now() > deadline) {
      throw new Error(`Only ${parentOf.size} of ${count} sleepers started`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pids = [...parentOf.keys()];
  const running = (pid: number) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).trim() === name;
    } catch {
      return false;
    }
  };
  return {
    name,
    pids,
    alive: () => Promise.resolve(pids.filter(running).length),
    async exitSignal(pid) {
      // setsid --wait reports its child's end as its own: a signal is 128 + n.
      const status = await children.get(parentOf.get(pid)!)!.status;
      const code = status.code - 128;
      return status.signal ??
        (code === 9 ? "SIGKILL" : code === 15 ? "SIGTERM" : code === 1 ? "SIGHUP" : null);
    },
    async stop() {
      for (const pid of pids) {
        try {
          if (running(pid)) Deno.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      await Promise.all([...children.values()].map((c) => c.status.catch(() => {})));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}
