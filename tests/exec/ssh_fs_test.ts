import assert from "node:assert/strict";
import type { FsListPlan, FsListResult, FsReadPlan, FsReadResult } from "../../src/exec/plan.ts";
import { sshFixture } from "./_ssh_fixture.ts";

Deno.test({
  name: "ssh executor reads and lists files under the allowed roots only",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await Deno.makeTempDir({ prefix: "tailops-fs-" });
    await Deno.chmod(base, 0o755);
    const root = `${base}/root`;
    await Deno.mkdir(`${root}/sub dir`, { recursive: true });
    await Deno.mkdir(`${base}/outside`);
    await Deno.writeTextFile(`${root}/hello.txt`, "hello, wörld\n");
    await Deno.writeFile(`${root}/binary.dat`, new Uint8Array([0, 255, 254, 1]));
    await Deno.writeTextFile(`${base}/outside/secret.txt`, "do not read\n");
    await Deno.symlink(`${base}/outside/secret.txt`, `${root}/escape`);
    await Deno.symlink(`${base}/outside`, `${root}/escape-dir`);
    await Deno.symlink("hello.txt", `${root}/inside-link`);
    const fx = await sshFixture({
      targets: () => [{ id: "files", extra: ["    files:", `      roots: [${root}]`] }],
    });
    const read = (path: string, extra: Partial<FsReadPlan> = {}) =>
      fx.run("files", {
        kind: "fs_read",
        path,
        roots: [root],
        offset: 0,
        timeoutMs: 5_000,
        outputCapBytes: 1 << 20,
        ...extra,
      });
    const list = (path: string, extra: Partial<FsListPlan> = {}) =>
      fx.run("files", {
        kind: "fs_list",
        path,
        roots: [root],
        maxEntries: 100,
        timeoutMs: 5_000,
        outputCapBytes: 1 << 20,
        ...extra,
      });
    try {
      await t.step("fs_read returns a file's content, size and real path", async () => {
        const outcome = await read(`${root}/hello.txt`);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const result = outcome.result as FsReadResult;
        assert.deepEqual(result, {
          kind: "fs_read",
          path: `${root}/hello.txt`,
          size: 14,
          content: "hello, wörld\n",
          encoding: "utf-8",
          truncated: false,
        });
      });
      await t.step("fs_read honours offset and cap", async () => {
        const outcome = await read(`${root}/hello.txt`, { offset: 7, outputCapBytes: 3 });
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const result = outcome.result as FsReadResult;
        assert.equal(result.content, "wö");
        assert.equal(result.truncated, true);
      });
      await t.step("fs_read returns binary content as base64", async () => {
        const outcome = await read(`${root}/binary.dat`);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.deepEqual(
          [(outcome.result as FsReadResult).encoding, (outcome.result as FsReadResult).content],
          ["base64", "AP/+AQ=="],
        );
      });
      await t.step("a symlink inside the roots resolves to its target", async () => {
        const outcome = await read(`${root}/inside-link`);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        assert.equal((outcome.result as FsReadResult).path, `${root}/hello.txt`);
      });
      await t.step("a symlink escaping the roots is refused", async () => {
        for (const outcome of [await read(`${root}/escape`), await list(`${root}/escape-dir`)]) {
          assert.ok(!outcome.ok);
          assert.equal(outcome.error.code, "forbidden");
          assert.doesNotMatch(JSON.stringify(outcome), /do not read/);
        }
      });
      await t.step("a missing file fails with not_found", async () => {
        const outcome = await read(`${root}/nope.txt`);
        assert.ok(!outcome.ok);
        assert.equal(outcome.error.code, "not_found");
      });
      await t.step("fs_list lists entries with type, size and mode, sorted by name", async () => {
        const outcome = await list(root);
        assert.ok(outcome.ok, JSON.stringify(outcome));
        const result = outcome.result as FsListResult;
        assert.equal(result.path, root);
        assert.deepEqual(result.entries.map((e) => [e.name, e.type]), [
          ["binary.dat", "file"],
          ["escape", "symlink"],
          ["escape-dir", "symlink"],
          ["hello.txt", "file"],
          ["inside-link", "symlink"],
          ["sub dir", "directory"],
        ]);
        const hello = result.entries.find((e) => e.name === "hello.txt")!;
        assert.equal(hello.size, 14);
        assert.match(hello.mode ?? "", /^0[0-7]{3}$/);
        assert.ok(hello.mtime && !Number.isNaN(Date.parse(hello.mtime)));
        const cut = await list(root, { maxEntries: 2 });
        assert.ok(cut.ok);
        assert.equal((cut.result as FsListResult).entries.length, 2);
        assert.equal((cut.result as FsListResult).truncated, true);
      });
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});
