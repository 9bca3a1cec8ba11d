/**
 * The per-call costs the gateway's call path avoids or pays, measured in the
 * bench process on the state directory's filesystem: one `fdatasync` (the
 * floor of a mutating call's `decided` record), the audit append of an
 * observe call (written, not waited for) and of a mutating call (synced),
 * a small audit write done async vs sync, a 5-entry directory listing async
 * vs sync, and one listing by the local worker's long-lived file helper
 * against the one `find` process a listing spawned before it.
 *
 * @module
 */
import fs from "node:fs";
import { AuditLog } from "../../src/audit/writer.ts";
import { LOCAL_FILE_HELPER, resolveProgram } from "../../src/exec/local_kind.ts";
import { FsAgent } from "../../src/exec/workers/_local_fs_agent.ts";
import { percentile } from "./_util.ts";

/** Median of `rounds` timings of `run` (after 20 warm-up runs). */
async function p50(rounds: number, run: () => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await run();
  const samples: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await run();
    samples.push(performance.now() - t0);
  }
  return percentile(samples.sort((a, b) => a - b), 50);
}

/** The figures, in ms (p50 each). */
export interface Savings {
  fdatasync: number;
  appendObserve: number;
  appendMutating: number;
  writeAsync: number;
  writeSync: number;
  readDirAsync: number;
  readDirSync: number;
  spawnFind: number;
  helperList: number;
}

/**
 * Measures every figure of {@linkcode Savings}.
 *
 * @param dir A scratch directory on the state directory's filesystem.
 * @param listed A directory of 5 files to list.
 * @param find The `find` program, or null when absent.
 * @returns The figures.
 */
export async function measureSavings(
  dir: string,
  listed: string,
  find: string | null,
): Promise<Savings> {
  const rounds = 200;
  const line = new TextEncoder().encode(`${"x".repeat(419)}\n`);
  const file = await Deno.open(`${dir}/sync.bin`, { write: true, create: true, append: true });
  const fdatasync = await p50(rounds, async () => {
    file.writeSync(line);
    await file.syncData();
  });
  const writeAsync = await p50(rounds, () => file.write(line));
  const writeSync = await p50(rounds, () => file.writeSync(line));
  file.close();
  const log = await AuditLog.open(`${dir}/audit.jsonl`, { fsync: "batch" });
  const entry = { event: "decided" as const, tool: "list_directory", target: "bench" };
  const appendObserve = await p50(rounds, () => log.append(entry, { durable: false }));
  const appendMutating = await p50(rounds, () => log.append(entry));
  await log.close();
  const readDirAsync = await p50(rounds, async () => {
    for await (const _ of Deno.readDir(listed)) { /* count */ }
  });
  const readDirSync = await p50(rounds, () => [...Deno.readDirSync(listed)]);
  const spawnFind = find === null ? NaN : await p50(50, () =>
    new Deno.Command(find, {
      args: [listed, "-mindepth", "1", "-maxdepth", "1", "-printf", "%y %s %f\\0"],
      stdout: "piped",
      stderr: "null",
    }).output());
  // The worker's path for a listing: one request to its file helper, on an opened directory.
  const perl = resolveProgram(LOCAL_FILE_HELPER);
  let helperList = NaN;
  if (perl !== null) {
    const agent = new FsAgent(perl);
    const fd = fs.openSync(listed, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      helperList = await p50(
        rounds,
        () => agent.ask(["list", String(fd)], { timeoutMs: 10_000, failure: "bench" }),
      );
    } finally {
      fs.closeSync(fd);
      await agent.close();
    }
  }
  return {
    fdatasync,
    appendObserve,
    appendMutating,
    writeAsync,
    writeSync,
    readDirAsync,
    readDirSync,
    spawnFind,
    helperList,
  };
}
