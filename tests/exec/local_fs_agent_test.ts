/**
 * The local worker's long-lived file helper (src/exec/workers/_local_fs_agent.ts):
 * its wire format under hostile names, its life cycle (killed, stopped,
 * idle, worker ended) and its refusals, against the real `perl` and the real
 * local worker under ExecutorHost.
 *
 * @module
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { createHash } from "node:crypto";
import { parseTargets } from "../../src/config/load.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_FILE_HELPER, LOCAL_KIND, resolveProgram } from "../../src/exec/local_kind.ts";
import type { FsListResult, FsReadResult, FsWriteResult, Plan } from "../../src/exec/plan.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";
import { FsAgent, FsFailure } from "../../src/exec/workers/_local_fs_agent.ts";

const PERL = resolveProgram(LOCAL_FILE_HELPER);
const LIMITS = { timeoutMs: 30_000, outputCapBytes: 1 << 20 };

/** Names that would break a line-, tab- or NUL-free protocol, or look like one of its frames. */
const HOSTILE_NAMES = [
  "new\nline",
  "tab\there",
  "12\nwhere\u00003",
  "ok\u0001err",
  "percent %s %n",
  "back\\slash",
  "sp ace ",
  "-dash",
  "ünïcødé-名前",
  "x".repeat(200),
].map((name) => name.replace("\u0000", "_"));

/** Children of this process that run perl (the file helper; nothing else here runs perl). */
async function helperPids(): Promise<number[]> {
  const out = await new Deno.Command("ps", {
    args: ["-o", "pid=,comm=", "--ppid", String(Deno.pid)],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === "perl")
    .map(([pid]) => Number(pid));
}

/** Waits (bounded) until `check` holds; returns whether it did. */
async function eventually(check: () => Promise<boolean>, limitMs = 60_000): Promise<boolean> {
  const stop = Date.now() + limitMs;
  while (Date.now() < stop) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}

function ok<T>(outcome: ExecOutcome): T {
  if (!outcome.ok) {
    assert.fail(`expected ok, found ${outcome.error.code}: ${outcome.error.message}`);
  }
  return outcome.result as T;
}

Deno.test({
  name: "without perl the file helper refuses with program_missing in one line",
  async fn() {
    const agent = new FsAgent(null);
    await assert.rejects(
      agent.ask(["where", "0"], { timeoutMs: 1000, failure: "x" }),
      (error: unknown) =>
        error instanceof FsFailure && error.failure.code === "program_missing" &&
        !error.message.includes("\n") && /perl is not installed/.test(error.message),
    );
  },
});

Deno.test({
  name: "the file helper answers in order, refuses malformed requests and keeps serving",
  ignore: PERL === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tailops-agent-" });
    const agent = new FsAgent(PERL);
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const ask = (fields: string[]) => agent.ask(fields, { timeoutMs: 30_000, failure: "Test" });
      const refused = async (fields: string[]) => {
        await assert.rejects(
          ask(fields),
          (error: unknown) => error instanceof FsFailure && error.failure.code === "forbidden",
          JSON.stringify(fields),
        );
      };
      // Many at once: each answer reaches its own request.
      const answers = await Promise.all(
        Array.from(
          { length: 50 },
          (_, i) => i % 2 ? ask(["where", String(fd)]) : ask(["list", String(fd)]),
        ),
      );
      for (const [i, answer] of answers.entries()) {
        const text = new TextDecoder().decode(answer);
        assert.ok(text.startsWith(Deno.realPathSync(dir)), `answer ${i}: ${JSON.stringify(text)}`);
      }
      for (
        const fields of [
          ["where", "../1"],
          ["where", "1 2"],
          ["where", ""],
          ["mktemp", String(fd), "a/b"],
          ["rename", String(fd), "..", "x"],
          ["rename", String(fd), "a", "."],
          ["link", String(fd), "a/../b", "c"],
          ["unlink", String(fd), "/etc/passwd"],
          ["mkdir", String(fd), ".."],
          ["exec", "id"],
          ["where", "999999"],
          // A NUL would shift later fields (unlink "a", not "a\0b"): refused before sending.
          ["unlink", String(fd), "a\u0000b"],
        ]
      ) await refused(fields);
      // Still serving after every refusal, and nothing was made.
      assert.equal(
        new TextDecoder().decode(await ask(["where", String(fd)])),
        Deno.realPathSync(dir),
      );
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    } finally {
      fs.closeSync(fd);
      await agent.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a killed or stopped file helper fails only what waited on it, and the next request starts a new one",
  ignore: PERL === null,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "tailops-agent-" });
    const agent = new FsAgent(PERL);
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    const where = (timeoutMs = 60_000) =>
      agent.ask(["where", String(fd)], { timeoutMs, failure: "Test" });
    try {
      await where();
      const [first] = await helperPids();
      assert.ok(first, "a helper runs after the first request");
      Deno.kill(first, "SIGKILL");
      assert.ok(await eventually(async () => !(await helperPids()).includes(first)));
      assert.equal(new TextDecoder().decode(await where()), Deno.realPathSync(dir));
      const [second] = await helperPids();
      assert.ok(second && second !== first, "a new helper answered");
      // A stopped helper never answers: the request fails as a timeout and the helper goes.
      Deno.kill(second, "SIGSTOP");
      await assert.rejects(
        where(1_000),
        (error: unknown) => error instanceof FsFailure && error.failure.code === "timeout",
      );
      assert.ok(await eventually(async () => !(await helperPids()).includes(second)));
      assert.equal(new TextDecoder().decode(await where()), Deno.realPathSync(dir));
    } finally {
      fs.closeSync(fd);
      await agent.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "an idle file helper ends, and the next request starts a new one",
  ignore: PERL === null,
  async fn() {
    const agent = new FsAgent(PERL, { idleMs: 100 });
    const fd = fs.openSync("/", fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      const where = () => agent.ask(["where", String(fd)], { timeoutMs: 60_000, failure: "Test" });
      await where();
      const [first] = await helperPids();
      assert.ok(first, "a helper runs after the first request");
      assert.ok(await eventually(async () => (await helperPids()).length === 0), "it ended idle");
      // Answered by a new helper (the first one is gone).
      assert.equal(new TextDecoder().decode(await where()), "/");
    } finally {
      fs.closeSync(fd);
      await agent.close();
    }
  },
});

Deno.test({
  name:
    "hostile file names are written, listed and read exactly through the local worker's file helper",
  ignore: PERL === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-agent-" });
    const root = `${base}/root`;
    await Deno.mkdir(root);
    const registry = await parseTargets(
      `version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [file:read, file:write]\n    files: { roots: [${root}], write_roots: [${root}] }\n`,
      "agent.yaml",
    );
    const target = registry.get("local")!;
    const host = new ExecutorHost(registry, {
      kinds: [LOCAL_KIND as WorkerKind],
      context: { programs: [LOCAL_FILE_HELPER] },
    });
    try {
      for (const [i, name] of HOSTILE_NAMES.entries()) {
        const bytes = new TextEncoder().encode(`content ${i}\n`);
        const write = (backup: boolean): Plan => ({
          kind: "fs_write",
          path: `${root}/${name}`,
          roots: [root],
          content: btoa(String.fromCharCode(...bytes)),
          sha256: createHash("sha256").update(bytes).digest("hex"),
          mode: 0o640,
          backup,
          ...LIMITS,
        });
        const written = ok<FsWriteResult>(await host.run(target, write(false)));
        assert.equal(written.path, `${Deno.realPathSync(root)}/${name}`, JSON.stringify(name));
        // Written again with other content and a backup: the helper's link and rename.
        await Deno.writeTextFile(`${root}/${name}`, "old\n");
        const again = ok<FsWriteResult>(await host.run(target, write(true)));
        assert.equal(again.changed, true);
        assert.equal(Deno.readTextFileSync(`${root}/.${name}.tailops-prev`), "old\n");
        assert.equal((Deno.statSync(`${root}/${name}`).mode ?? 0) & 0o777, 0o640);
        const read = ok<FsReadResult>(
          await host.run(target, {
            kind: "fs_read",
            path: `${root}/${name}`,
            roots: [root],
            offset: 0,
            ...LIMITS,
          }),
        );
        assert.equal(read.content, `content ${i}\n`);
      }
      const listed = ok<FsListResult>(
        await host.run(target, {
          kind: "fs_list",
          path: root,
          roots: [root],
          maxEntries: 1000,
          ...LIMITS,
        }),
      );
      const names = listed.entries.map((entry) => entry.name);
      for (const name of HOSTILE_NAMES) {
        assert.ok(names.includes(name), `listed ${JSON.stringify(name)}`);
        assert.ok(names.includes(`.${name}.tailops-prev`));
      }
      assert.equal(names.length, HOSTILE_NAMES.length * 2, "no temporary file left");
      const entry = listed.entries.find((e) => e.name === HOSTILE_NAMES[0])!;
      assert.equal(entry.type, "file");
      assert.equal(entry.mode, "0640");
      assert.equal(entry.size, "content 0\n".length);
      const mtime = Deno.statSync(`${root}/${HOSTILE_NAMES[0]}`).mtime!;
      assert.ok(Math.abs(Date.parse(entry.mtime!) - mtime.getTime()) < 1000);
    } finally {
      host.close();
      // The worker's end closes the helper's stdin: it exits.
      assert.ok(await eventually(async () => (await helperPids()).length === 0), "helper ended");
      await Deno.remove(base, { recursive: true });
    }
  },
});
