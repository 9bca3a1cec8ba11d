/**
 * The SSH file read's one-process path: GNU `dd` is tried without a probe and
 * its report stands in for `stat` when it settles the size; a host whose `dd`
 * rejects `nofollow`, or has none, is read by the busybox branch. Nothing is
 * remembered between calls, so a host whose tools change between two calls on
 * one pooled connection is read by whatever it has now, and only safely.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { FsReadPlan, FsReadResult } from "../../src/exec/plan.ts";
import { BUSYBOX, busyboxPath } from "./_busybox_shell.ts";
import { sshFixture } from "./_ssh_fixture.ts";

/** GNU coreutils' dd and timeout, as on Debian. */
const GNU_DD = "/usr/bin/dd";
const GNU_TIMEOUT = "/usr/bin/timeout";

async function relink(dir: string, name: string, to: string | null): Promise<void> {
  await Deno.remove(`${dir}/${name}`).catch(() => {});
  if (to !== null) await Deno.symlink(to, `${dir}/${name}`);
}

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: ["-m", "0644", "--", path] }).output();
  if (!out.success) throw new Error(`Cannot make FIFO ${path}`);
}

Deno.test({
  name:
    "ssh fs_read reports the right size and content for every offset and cap, on GNU and busybox hosts",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await Deno.makeTempDir({ prefix: "tailops-fs-read-" });
    await Deno.chmod(base, 0o755);
    const root = `${base}/root`;
    const bin = `${base}/bin`;
    await Deno.mkdir(root, { mode: 0o755 });
    await Deno.mkdir(bin, { mode: 0o755 });
    const setPath = await busyboxPath(bin);
    await Deno.writeTextFile(`${root}/ten.txt`, "0123456789");
    await Deno.writeTextFile(`${root}/empty.txt`, "");
    const files = ["    files:", `      roots: [${root}]`];
    const fx = await sshFixture({
      sshd: { count: 2 },
      targets: () => [{ id: "gnu", extra: files }, { id: "busybox", instance: 1, extra: files }],
    });
    try {
      await Deno.writeTextFile(fx.testbed.instances[1].configPath, `${setPath}\n`, {
        append: true,
      });
      await fx.testbed.restart(1);
      // [file, offset, cap, content, size, truncated]
      const cases: [string, number, number, string, number, boolean][] = [
        ["ten.txt", 0, 100, "0123456789", 10, false],
        ["ten.txt", 0, 10, "0123456789", 10, false],
        ["ten.txt", 0, 4, "0123", 10, true],
        ["ten.txt", 4, 100, "456789", 10, false],
        ["ten.txt", 4, 6, "456789", 10, false],
        ["ten.txt", 4, 2, "45", 10, true],
        ["ten.txt", 10, 5, "", 10, false],
        ["ten.txt", 25, 5, "", 10, false],
        ["ten.txt", 0, 0, "", 10, true],
        ["empty.txt", 0, 100, "", 0, false],
        ["empty.txt", 3, 100, "", 0, false],
      ];
      for (const id of ["gnu", "busybox"]) {
        await t.step(`${id}: ${cases.length} offsets and caps`, async () => {
          for (const [file, offset, cap, content, size, truncated] of cases) {
            const plan: FsReadPlan = {
              kind: "fs_read",
              path: `${root}/${file}`,
              roots: [root],
              offset,
              timeoutMs: 10_000,
              outputCapBytes: cap,
            };
            const outcome = await fx.run(id, plan);
            const what = `${file} from ${offset}, cap ${cap}`;
            assert.ok(outcome.ok, `${what}: ${JSON.stringify(outcome)}`);
            const result = outcome.result as FsReadResult;
            assert.deepEqual(
              [result.content, result.size, result.truncated, result.path],
              [content, size, truncated, `${root}/${file}`],
              what,
            );
          }
        });
      }
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a host whose dd and timeout change between calls on one pooled connection is read only by a safe path",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await Deno.makeTempDir({ prefix: "tailops-fs-tools-" });
    await Deno.chmod(base, 0o755);
    const root = `${base}/root`;
    const bin = `${base}/bin`;
    await Deno.mkdir(root, { mode: 0o755 });
    await Deno.mkdir(`${base}/outside`, { mode: 0o755 });
    await Deno.mkdir(bin, { mode: 0o755 });
    const setPath = await busyboxPath(bin);
    await Deno.writeTextFile(`${root}/inside.txt`, "inside\n");
    await Deno.writeTextFile(`${base}/outside/secret.txt`, "SECRET-OUTSIDE\n");
    await Deno.symlink(`${base}/outside/secret.txt`, `${root}/escape`);
    await mkfifo(`${root}/fifo`);
    const fx = await sshFixture({
      targets: () => [{ id: "host", extra: ["    files:", `      roots: [${root}]`] }],
    });
    const read = (name: string) =>
      fx.run("host", {
        kind: "fs_read",
        path: `${root}/${name}`,
        roots: [root],
        offset: 0,
        timeoutMs: 10_000,
        outputCapBytes: 1 << 16,
      });
    try {
      await Deno.writeTextFile(fx.testbed.instances[0].configPath, `${setPath}\n`, {
        append: true,
      });
      await fx.testbed.restart(0);
      const states: [string, { dd: string | null; timeout: string | null }][] = [
        ["GNU dd", { dd: GNU_DD, timeout: GNU_TIMEOUT }],
        ["busybox dd (no nofollow)", { dd: BUSYBOX, timeout: BUSYBOX }],
        ["GNU dd again", { dd: GNU_DD, timeout: BUSYBOX }],
        ["no dd at all", { dd: null, timeout: GNU_TIMEOUT }],
        ["neither dd nor timeout", { dd: null, timeout: null }],
        ["GNU dd, no timeout", { dd: GNU_DD, timeout: null }],
      ];
      for (const [name, tools] of states) {
        await t.step(`${name}: inside read, escape and FIFO refused`, async () => {
          await relink(bin, "dd", tools.dd);
          await relink(bin, "timeout", tools.timeout);
          const inside = await read("inside.txt");
          if (tools.dd === GNU_DD || tools.timeout !== null) {
            assert.ok(inside.ok, JSON.stringify(inside));
            assert.equal((inside.result as FsReadResult).content, "inside\n");
            assert.equal((inside.result as FsReadResult).size, 7);
          } else {
            assert.ok(!inside.ok);
            assert.equal(inside.error.code, "program_missing");
          }
          for (const refused of [await read("escape"), await read("fifo")]) {
            assert.ok(!refused.ok, JSON.stringify(refused));
            assert.equal(refused.error.code, "forbidden");
            assert.doesNotMatch(JSON.stringify(refused), /SECRET/);
          }
        });
      }
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});
