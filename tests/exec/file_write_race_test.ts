/**
 * file_write under a race: a racer process swaps the directory (`ROOT/d`) and
 * the final name (`ROOT/d/marker.txt`) for symlinks to copies outside the
 * write root while hundreds of writes run, on the local worker and over real
 * sshd. No written byte may land outside; outside files keep their content.
 *
 * @module
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { parseTargets } from "../../src/config/load.ts";
import { type ExecOutcome, ExecutorHost } from "../../src/exec/host.ts";
import { LOCAL_KIND } from "../../src/exec/local_kind.ts";
import type { FsWritePlan } from "../../src/exec/plan.ts";
import type { WorkerKind } from "../../src/exec/worker_kind.ts";
import { sshFixture } from "./_ssh_fixture.ts";
import { WRITE_HELPERS } from "../../src/ops/file_write.ts";
import { TEST_USER } from "../../scripts/testbed/sshd.ts";
import { startRacer } from "./_racer.ts";

/** Writes per run at most, and the time they may take at most (bounded either way). */
const CALLS = 600;
const BUDGET_MS = 30_000;

async function layout(base: string): Promise<{ root: string; outside: string }> {
  const root = `${base}/root`;
  const outside = `${base}/outside`;
  await Deno.mkdir(`${root}/d`, { recursive: true });
  await Deno.mkdir(`${outside}/d`, { recursive: true });
  await Deno.writeTextFile(`${root}/d/marker.txt`, "inside\n");
  await Deno.writeTextFile(`${outside}/d/marker.txt`, "SECRET-OUTSIDE-DIR\n");
  await Deno.writeTextFile(`${outside}/secret.txt`, "SECRET-OUTSIDE-FILE\n");
  await Deno.symlink(`${outside}/d`, `${root}/.d-swap`);
  await Deno.symlink(`${outside}/secret.txt`, `${root}/d/.m-swap`);
  // Writable by everyone (the SSH user too): only the write code keeps writes inside.
  for (const dir of [base, root, `${root}/d`, outside, `${outside}/d`]) {
    await Deno.chmod(dir, 0o777);
  }
  return { root, outside };
}

function writePlan(root: string, n: number): FsWritePlan {
  const content = new TextEncoder().encode(`inside-${n}\n`);
  return {
    kind: "fs_write",
    path: `${root}/d/marker.txt`,
    roots: [root],
    content: btoa(String.fromCharCode(...content)),
    sha256: createHash("sha256").update(content).digest("hex"),
    mode: 0o644,
    backup: n % 2 === 0,
    timeoutMs: 10_000,
    outputCapBytes: 4096,
  };
}

/** Every file under `dir` (recursively, not following links) with its content. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) Object.assign(out, await snapshot(path));
    else if (entry.isFile) out[path] = await Deno.readTextFile(path);
    else out[path] = "<link>";
  }
  return out;
}

async function race(
  run: (plan: FsWritePlan) => Promise<ExecOutcome>,
  base: string,
  where: string,
): Promise<{ names: string[] }> {
  const { root, outside } = await layout(base);
  const before = await snapshot(outside);
  const stop = startRacer(root, "symlink", BUDGET_MS / 1000 + 20);
  const codes: Record<string, number> = {};
  let calls = 0;
  let ok = 0;
  const started = Date.now();
  try {
    while (calls < CALLS && Date.now() - started < BUDGET_MS) {
      const outcomes = await Promise.all([0, 1, 2].map((i) => run(writePlan(root, calls + i))));
      for (const outcome of outcomes) {
        calls++;
        if (outcome.ok) ok++;
        else codes[outcome.error.code] = (codes[outcome.error.code] ?? 0) + 1;
      }
    }
  } finally {
    const swaps = await stop();
    assert.ok(swaps > 100, `${where}: the racer swapped only ${swaps} times`);
  }
  const after = await snapshot(outside);
  // What was outside is unchanged, and no new outside file holds anything we wrote.
  for (const [path, text] of Object.entries(before)) {
    assert.equal(after[path], text, `${where}: ${path}`);
  }
  const added = Object.keys(after).filter((path) => !(path in before));
  for (const path of added) {
    assert.ok(!after[path].includes("inside-"), `${where}: ${path} holds our content`);
  }
  assert.ok(ok > 0, `${where}: no write succeeded: ${JSON.stringify(codes)}`);
  for (const code of Object.keys(codes)) {
    assert.ok(["forbidden", "not_found"].includes(code), `${where}: ${JSON.stringify(codes)}`);
  }
  const final = await Deno.readTextFile(`${root}/d/marker.txt`).catch(() => "");
  assert.match(final, /^inside(-\d+)?\n$/);
  // Failed writes removed their temporary files where they made them: none is left inside.
  const inside = Object.keys(await snapshot(root)).filter((path) =>
    /\.tailops-/.test(path) && !path.endsWith(".tailops-prev")
  );
  assert.deepEqual(inside, [], `${where}: temporary files left inside`);
  return { names: added.map((path) => path.slice(outside.length + 1)) };
}

Deno.test({
  name: "the local worker writes nothing outside its write roots while a racer swaps in symlinks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-wrace-" });
    const registry = await parseTargets(
      `version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [file:write]\n    files: { write_roots: [${base}/root] }\n`,
      "race.yaml",
    );
    const host = new ExecutorHost(registry, {
      kinds: [LOCAL_KIND as WorkerKind],
      context: { programs: [...WRITE_HELPERS] },
    });
    try {
      const { names } = await race((plan) => host.run(registry.get("local")!, plan), base, "local");
      // Temporary file, backup link and rename go through the pinned directory's
      // /proc/PID/fd link: nothing at all appears outside, not even an empty file.
      assert.deepEqual(names, []);
    } finally {
      host.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "over SSH the write script writes nothing outside its write roots while a racer swaps in symlinks",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-wrace-ssh-" });
    const fx = await sshFixture({
      targets: () => [{
        id: "gnu",
        extra: ["    files:", `      write_roots: [${base}/root]`],
      }],
    });
    try {
      const { names } = await race((plan) => fx.run("gnu", plan), base, "ssh");
      // The script works in the pinned directory: nothing at all appears outside.
      assert.deepEqual(names, []);
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "over SSH under sudo the write script writes nothing outside its write roots while a racer swaps in symlinks",
  ignore: !(await Deno.stat("/usr/bin/sudo").then(() => true, () => false)),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-wrace-sudo-" });
    // The sshd sees its own sudoers.d (a private mount namespace), never the machine's.
    const fx = await sshFixture({
      sshd: { sudoers: `${TEST_USER} ALL=(root) NOPASSWD: /bin/sh` },
      targets: () => [{
        id: "gnu",
        extra: ["    files:", `      write_roots: [${base}/root]`],
      }],
    });
    try {
      const { names } = await race((plan) => fx.run("gnu", { ...plan, sudo: true }), base, "sudo");
      assert.deepEqual(names, []);
      assert.equal((await Deno.stat(`${base}/root/d/marker.txt`)).uid, 0, "written as root");
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "the local worker makes a missing directory only inside the write roots: a parent that leads outside gets nothing",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-wmkdir-" });
    const registry = await parseTargets(
      `version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [file:write]\n    files: { write_roots: [${base}/root] }\n`,
      "mkdir.yaml",
    );
    const host = new ExecutorHost(registry, {
      kinds: [LOCAL_KIND as WorkerKind],
      context: { programs: [...WRITE_HELPERS] },
    });
    try {
      await Deno.mkdir(`${base}/root`);
      await Deno.mkdir(`${base}/outside`);
      await Deno.symlink(`${base}/outside`, `${base}/root/link`);
      const plan = (path: string): FsWritePlan => ({
        ...writePlan(`${base}/root`, 1),
        path,
        makeDir: true,
      });
      const made = await host.run(registry.get("local")!, plan(`${base}/root/new/f.txt`));
      assert.ok(made.ok, JSON.stringify(made));
      assert.equal(await Deno.readTextFile(`${base}/root/new/f.txt`), "inside-1\n");
      const refused = await host.run(
        registry.get("local")!,
        plan(`${base}/root/link/new/f.txt`),
      );
      assert.equal(refused.ok, false);
      if (!refused.ok) assert.equal(refused.error.code, "forbidden", refused.error.message);
      assert.deepEqual([...Deno.readDirSync(`${base}/outside`)], []);
    } finally {
      host.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});
