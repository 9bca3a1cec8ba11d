/**
 * File roots under a race, and special files: a racer process swaps a
 * directory component and the final name inside a root for symlinks to
 * copies outside it (or for a FIFO) while thousands of reads and listings
 * run, on the local worker and over real sshd (GNU and busybox userlands).
 * Not one call may return outside bytes or names, and none may hang.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseTargets } from "../../src/config/load.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_FILE_HELPER, LOCAL_KIND } from "../../src/exec/local_kind.ts";
import type { FsListResult, FsReadResult, Plan } from "../../src/exec/plan.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";
import { busyboxPath } from "./_busybox_shell.ts";
import { sshFixture } from "./_ssh_fixture.ts";
import { startRacer as startRacerFor } from "./_racer.ts";

/** Calls per racer run at most, and the time they may take at most (bounded either way). */
const CALLS = 3000;
const BUDGET_MS = 40_000;
/**
 * Calls that must overlap the racer whatever the machine's load: past the
 * budget the loop goes on until this many ran, within a hard stop.
 */
const MIN_CALLS = 200;
const HARD_STOP_MS = 240_000;

/** Makes `base/root` and `base/outside` as the racer expects; returns the root. */
async function layout(base: string, swapIn: "symlink" | "fifo"): Promise<string> {
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(`${root}/d`, { recursive: true });
  await Deno.mkdir(`${outside}/d`, { recursive: true });
  await Deno.writeTextFile(`${root}/d/marker.txt`, "inside\n");
  await Deno.writeTextFile(`${root}/d/inside-only`, "x");
  await Deno.writeTextFile(`${outside}/d/marker.txt`, "SECRET-OUTSIDE-DIR\n");
  await Deno.writeTextFile(`${outside}/d/outside-only`, "SECRET");
  await Deno.writeTextFile(`${outside}/secret.txt`, "SECRET-OUTSIDE-FILE\n");
  await Deno.symlink(`${outside}/d`, `${root}/.d-swap`);
  if (swapIn === "fifo") await mkfifo(`${root}/d/.m-swap`);
  else await Deno.symlink(`${outside}/secret.txt`, `${root}/d/.m-swap`);
  for (const dir of [base, root, `${root}/d`, outside, `${outside}/d`]) {
    await Deno.chmod(dir, 0o755);
  }
  return root;
}

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: ["-m", "0644", "--", path] }).output();
  if (!out.success) {
    throw new Error(`Cannot make FIFO ${path}: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** Starts the racer for the budget (plus margin); returns what stops it and counts swaps. */
function startRacer(root: string, mode: "symlink" | "fifo"): () => Promise<number> {
  return startRacerFor(root, mode, BUDGET_MS / 1000 + 20);
}

interface Tally {
  calls: number;
  ok: number;
  refused: Record<string, number>;
  escapes: string[];
  /** Failures other than forbidden and not_found, for the assertion message. */
  odd: string[];
}

/**
 * Runs reads of `ROOT/d/marker.txt` and listings of `ROOT/d`, four at a time,
 * until CALLS or BUDGET_MS, and sorts what came back.
 */
async function hammer(
  run: (plan: Plan) => Promise<ExecOutcome>,
  root: string,
  accept: readonly string[],
  timeoutMs = 10_000,
  budgetMs = BUDGET_MS,
  minCalls = MIN_CALLS,
): Promise<Tally> {
  const tally: Tally = { calls: 0, ok: 0, refused: {}, escapes: [], odd: [] };
  const started = Date.now();
  const read: Plan = {
    kind: "fs_read",
    path: `${root}/d/marker.txt`,
    roots: [root],
    offset: 0,
    timeoutMs,
    outputCapBytes: 1024,
  };
  const list: Plan = {
    kind: "fs_list",
    path: `${root}/d`,
    roots: [root],
    maxEntries: 100,
    timeoutMs: 10_000,
    outputCapBytes: 64 * 1024,
  };
  const one = async (plan: Plan) => {
    const outcome = await run(plan);
    tally.calls++;
    const shown = JSON.stringify(outcome);
    if (shown.includes("SECRET") || shown.includes("outside-only")) tally.escapes.push(shown);
    if (!outcome.ok) {
      tally.refused[outcome.error.code] = (tally.refused[outcome.error.code] ?? 0) + 1;
      if (!["forbidden", "not_found"].includes(outcome.error.code)) tally.odd.push(shown);
      return;
    }
    tally.ok++;
    if (outcome.result.kind === "fs_read") {
      const result = outcome.result as FsReadResult;
      if (!accept.includes(result.content)) tally.escapes.push(shown);
      if (!result.path.startsWith(`${root}/`)) tally.escapes.push(shown);
    } else {
      const result = outcome.result as FsListResult;
      // The racer renames the directory aside for a moment: any name inside the root is fine.
      if (!result.path.startsWith(`${root}/`)) tally.escapes.push(shown);
    }
  };
  const more = () => {
    const elapsed = Date.now() - started;
    if (tally.calls >= CALLS || elapsed >= HARD_STOP_MS) return false;
    return elapsed < budgetMs || tally.calls < minCalls;
  };
  while (more()) {
    await Promise.all([one(read), one(list), one(read), one(read)]);
  }
  return tally;
}

function assertNoEscape(
  tally: Tally,
  swaps: number,
  where: string,
  minCalls = MIN_CALLS,
): void {
  assert.deepEqual(tally.escapes.slice(0, 3), [], `${where}: calls returned outside data`);
  // The race was real: the racer swapped, and calls ran while it did.
  assert.ok(swaps > 100, `${where}: the racer swapped only ${swaps} times`);
  assert.ok(tally.calls >= minCalls, `${where}: only ${tally.calls} calls ran`);
  assert.ok(tally.ok > 0, `${where}: no call succeeded: ${JSON.stringify(tally.refused)}`);
  for (const code of Object.keys(tally.refused)) {
    assert.ok(
      ["forbidden", "not_found"].includes(code),
      `${where}: ${JSON.stringify(tally.refused)} ${tally.odd.slice(0, 5).join("\n")}`,
    );
  }
}

async function localHost(root: string) {
  const registry = await parseTargets(
    [
      "version: 1",
      "targets:",
      "  - id: local",
      "    type: local",
      "    capabilities: [file:read]",
      "    files:",
      `      roots: [${root}]`,
    ].join("\n"),
    "race.yaml",
  );
  const host = new ExecutorHost(registry, {
    kinds: [LOCAL_KIND as WorkerKind],
    context: { programs: [LOCAL_FILE_HELPER] },
  });
  const target = registry.get("local")!;
  return { host, run: (plan: Plan) => host.run(target, plan) };
}

for (const mode of ["symlink", "fifo"] as const) {
  Deno.test({
    name: `the local worker returns nothing outside its roots while a racer swaps in ${
      mode === "symlink" ? "symlinks to outside" : "a FIFO"
    }, and never hangs`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const base = await Deno.makeTempDir({ prefix: "tailops-race-" });
      const root = await layout(base, mode);
      const { host, run } = await localHost(root);
      const stop = startRacer(root, mode);
      let swaps = 0;
      try {
        const tally = await hammer(run, root, ["inside\n"]);
        swaps = await stop();
        assertNoEscape(tally, swaps, `local/${mode}`);
      } finally {
        await stop().catch(() => 0);
        host.close();
        await Deno.remove(base, { recursive: true });
      }
    },
  });
}

Deno.test({
  name:
    "over SSH (GNU and busybox userlands) reads and listings return nothing outside the roots while a racer swaps symlinks and FIFOs in",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await Deno.makeTempDir({ prefix: "tailops-race-ssh-" });
    await Deno.chmod(base, 0o755);
    const bin = `${base}/busybox-bin`;
    await Deno.mkdir(bin, { mode: 0o755 });
    const setPath = await busyboxPath(bin);
    const roots: Record<string, string> = {};
    for (const mode of ["symlink", "fifo"]) {
      await Deno.mkdir(`${base}/${mode}`, { mode: 0o755 });
      roots[mode] = await layout(`${base}/${mode}`, mode as "symlink" | "fifo");
    }
    const files = ["    files:", `      roots: [${roots.symlink}, ${roots.fifo}]`];
    const fx = await sshFixture({
      sshd: { count: 2 },
      targets: () => [
        { id: "gnu", extra: files },
        { id: "busybox", instance: 1, extra: files },
      ],
    });
    try {
      await Deno.writeTextFile(fx.testbed.instances[1].configPath, `${setPath}\n`, {
        append: true,
      });
      await fx.testbed.restart(1);
      for (const id of ["gnu", "busybox"]) {
        for (const mode of ["symlink", "fifo"] as const) {
          await t.step(`${id}, racer swapping in ${mode}s`, async () => {
            const root = roots[mode];
            const stop = startRacer(root, mode);
            try {
              // GNU dd opens the name without following or blocking; a FIFO the racer put
              // inside the root reads as empty there. Nothing else may come back.
              const accept = mode === "fifo" && id === "gnu" ? ["inside\n", ""] : ["inside\n"];
              // busybox: an open that a FIFO swapped in makes wait is killed after half the
              // plan's timeout (2 s here, so 1 s), which makes those calls slow, not hung.
              const slow = mode === "fifo" && id === "busybox";
              const tally = await hammer(
                (plan) => fx.run(id, plan),
                root,
                accept,
                slow ? 2_000 : undefined,
                slow ? 15_000 : undefined,
                slow ? 50 : MIN_CALLS,
              );
              assertNoEscape(tally, await stop(), `${id}/${mode}`, slow ? 50 : 200);
            } finally {
              await stop().catch(() => 0);
            }
          });
        }
      }
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});
