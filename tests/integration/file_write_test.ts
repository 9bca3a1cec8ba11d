/**
 * file_write through the real gateway (`deno run -P=gateway`, SDK client over
 * Streamable HTTP), on the local target and over real sshd: dry run with a
 * diff, atomic write with mode and backup, "nothing changed" on a repeat,
 * checksum guard, symlinks at the name or on the path refused, content kept
 * out of the audit log.
 *
 * @module
 */
import assert from "node:assert/strict";
import { connectHttp, readAudit, startGateway, tempDirWith } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call, type Entry } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";

type Client = Awaited<ReturnType<typeof connectHttp>>;

async function one(client: Client, args: Record<string, unknown>): Promise<Entry> {
  const called = await call(client, "file_write", args);
  assert.equal(called.results.length, 1, called.text);
  return called.results[0];
}

/** The name of the user owning what the SSH target wrote (its login user). */
async function sshUser(dir: string): Promise<string> {
  const uid = (await Deno.stat(`${dir}/app.conf`)).uid!;
  const out = await new Deno.Command("id", { args: ["-nu", String(uid)] }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** The shared story, run against one target whose write root is `dir` (outside: `outside`). */
async function story(
  t: Deno.TestContext,
  client: Client,
  target: string,
  dir: string,
  outside: string,
  auditFile: string,
): Promise<void> {
  const file = `${dir}/app.conf`;
  await t.step(
    `${target}: dry run of a new file shows a diff from nothing and writes nothing`,
    async () => {
      const entry = await one(client, { target, path: file, content: "a=1\nb=2\n", dry_run: true });
      assert.equal(entry.status, "planned", JSON.stringify(entry));
      const plan = entry.plan as Record<string, unknown> & { check: Record<string, unknown> };
      assert.equal(plan.kind, "write_file");
      assert.equal(plan.mode, "0644");
      assert.equal(plan.check.current, null);
      assert.equal(plan.check.would_change, true);
      assert.equal(plan.check.diff, `--- /dev/null\n+++ ${file}\n@@ -0,0 +1,2 @@\n+a=1\n+b=2\n`);
      await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
    },
  );

  await t.step(
    `${target}: a write creates the file with its mode; a repeat changes nothing`,
    async () => {
      const entry = await one(client, { target, path: file, content: "a=1\nb=2\n", mode: "0640" });
      assert.equal(entry.status, "ok", JSON.stringify(entry));
      assert.equal(entry.data?.changed, true);
      assert.equal(entry.data?.previous_sha256, null);
      assert.equal(await Deno.readTextFile(file), "a=1\nb=2\n");
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o640);
      const again = await one(client, { target, path: file, content: "a=1\nb=2\n", mode: "0640" });
      assert.equal(again.data?.changed, false, JSON.stringify(again));
    },
  );

  await t.step(
    `${target}: the same content with another mode is written again, so the mode is what was asked`,
    async () => {
      const ino = (await Deno.stat(file)).ino;
      // Dry run says so: the digest is the same, the mode is not.
      const dry = await one(client, {
        target,
        path: file,
        content: "a=1\nb=2\n",
        mode: "0600",
        dry_run: true,
      });
      const check = (dry.plan as { check: Record<string, unknown> }).check;
      assert.equal(check.would_change, true, JSON.stringify(check));
      assert.deepEqual(check.metadata_changes, { mode: { from: "0640", to: "0600" } });
      assert.equal(check.diff, "");
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o640, "dry run changed nothing");
      const tighter = await one(client, {
        target,
        path: file,
        content: "a=1\nb=2\n",
        mode: "0600",
      });
      assert.equal(tighter.data?.changed, true, JSON.stringify(tighter));
      assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
      assert.notEqual((await Deno.stat(file)).ino, ino, "replaced by rename, not changed in place");
      const backup = await Deno.stat(`${dir}/.app.conf.tailops-prev`);
      assert.equal(backup.mode! & 0o777, 0o640);
      const again = await one(client, { target, path: file, content: "a=1\nb=2\n", mode: "0600" });
      assert.equal(again.data?.changed, false, JSON.stringify(again));
    },
  );

  await t.step(
    `${target}: a change shows its diff, keeps a backup and checks the digest`,
    async () => {
      const dry = await one(client, { target, path: file, content: "a=1\nb=3\n", dry_run: true });
      const check = (dry.plan as { check: { diff: string; current: { sha256: string } } }).check;
      assert.match(check.diff, /\n-b=2\n\+b=3\n$/);
      const wrong = await one(client, {
        target,
        path: file,
        content: "a=1\nb=3\n",
        expected_sha256: "0".repeat(64),
      });
      assert.equal(wrong.status, "failed");
      assert.match(
        wrong.error?.message ?? "",
        /expected current content 0{64}, found [0-9a-f]{64}/,
      );
      const entry = await one(client, {
        target,
        path: file,
        content: "a=1\nb=3\n",
        expected_sha256: check.current.sha256,
      });
      assert.equal(entry.status, "ok", JSON.stringify(entry));
      assert.equal(entry.data?.previous_sha256, check.current.sha256);
      assert.equal(await Deno.readTextFile(file), "a=1\nb=3\n");
      assert.equal(await Deno.readTextFile(`${dir}/.app.conf.tailops-prev`), "a=1\nb=2\n");
    },
  );

  await t.step(
    `${target}: owner and group are set where permitted, refused where not`,
    async () => {
      const self = target === "local" ? "65534" : (await sshUser(dir));
      const ok = await one(client, { target, path: `${dir}/owned`, content: "o\n", owner: self });
      assert.equal(ok.status, "ok", JSON.stringify(ok));
      if (target === "local") assert.equal((await Deno.stat(`${dir}/owned`)).uid, 65534);
      // The owner is already the one asked for (by name over SSH, by id locally): unchanged.
      const same = await one(client, { target, path: `${dir}/owned`, content: "o\n", owner: self });
      assert.equal(same.data?.changed, false, JSON.stringify(same));
      const dry = await one(client, {
        target,
        path: `${dir}/owned`,
        content: "o\n",
        owner: self,
        dry_run: true,
      });
      const check = (dry.plan as { check: Record<string, unknown> }).check;
      assert.equal(check.would_change, false, JSON.stringify(check));
      assert.equal(check.metadata_changes, undefined);
      const other = await one(client, {
        target,
        path: `${dir}/owned`,
        content: "o\n",
        owner: target === "local" ? "0" : "root",
        dry_run: true,
      });
      const otherCheck = (other.plan as { check: Record<string, unknown> }).check;
      assert.deepEqual(otherCheck.metadata_changes, {
        owner: target === "local" ? { from: "65534", to: "0" } : { from: self, to: "root" },
      });
      const refused = await one(client, {
        target,
        path: `${dir}/owned2`,
        content: "o\n",
        owner: "root",
      });
      assert.equal(refused.status, "failed", JSON.stringify(refused));
      await assert.rejects(Deno.stat(`${dir}/owned2`), Deno.errors.NotFound);
    },
  );

  await t.step(
    `${target}: file_restore puts the backup back and keeps the current as backup`,
    async () => {
      const dry = await call(client, "file_restore", { target, path: file, dry_run: true });
      const check = (dry.results[0].plan as { check: { diff: string } }).check;
      assert.match(check.diff, /\n-b=3\n\+b=2\n$/, JSON.stringify(dry.results[0]));
      const restored = await call(client, "file_restore", { target, path: file, mode: "0640" });
      assert.equal(restored.results[0].status, "ok", JSON.stringify(restored.results[0]));
      assert.equal(await Deno.readTextFile(file), "a=1\nb=2\n");
      assert.equal(await Deno.readTextFile(`${dir}/.app.conf.tailops-prev`), "a=1\nb=3\n");
      const none = await call(client, "file_restore", { target, path: `${dir}/never-written` });
      assert.equal(none.results[0].error?.code, "not_found", JSON.stringify(none.results[0]));
      assert.equal(none.results[0].error?.message, "There is no backup to restore");
    },
  );

  await t.step(
    `${target}: a symlink at the name or on the path is refused, not followed`,
    async () => {
      await Deno.writeTextFile(`${outside}/victim`, "untouched\n");
      await Deno.symlink(`${outside}/victim`, `${dir}/link.conf`);
      await Deno.symlink(outside, `${dir}/linkdir`);
      const atName = await one(client, { target, path: `${dir}/link.conf`, content: "pwned\n" });
      assert.equal(atName.status, "failed");
      assert.equal(atName.error?.code, "forbidden", JSON.stringify(atName));
      const onPath = await one(client, {
        target,
        path: `${dir}/linkdir/victim`,
        content: "pwned\n",
      });
      assert.equal(onPath.error?.code, "forbidden", JSON.stringify(onPath));
      const newOnPath = await one(client, {
        target,
        path: `${dir}/linkdir/new`,
        content: "pwned\n",
      });
      assert.equal(newOnPath.error?.code, "forbidden", JSON.stringify(newOnPath));
      assert.equal(await Deno.readTextFile(`${outside}/victim`), "untouched\n");
      await assert.rejects(Deno.stat(`${outside}/new`), Deno.errors.NotFound);
      assert.ok((await Deno.lstat(`${dir}/link.conf`)).isSymlink);
    },
  );

  await t.step(
    `${target}: paths outside the write roots, exec modes and oversize content are refused`,
    async () => {
      const outsideRoots = await one(client, { target, path: `${outside}/x`, content: "x" });
      assert.equal(outsideRoots.error?.code, "forbidden");
      assert.match(outsideRoots.error?.message ?? "", /outside the write roots/);
      const big = "x".repeat(1024 * 1024 + 1);
      for (const args of [{ mode: "0755" }, { mode: "4644" }, { content: big }]) {
        const refusal = await call(client, "file_write", {
          target,
          path: `${dir}/y`,
          content: "y",
          ...args,
        }).then(
          (called) => called.isError || called.results[0]?.status === "failed",
          // Content over the cap also meets the HTTP body limit first.
          (error: Error) => /Request body too large/.test(error.message),
        );
        assert.ok(refusal, JSON.stringify(args).slice(0, 40));
      }
      await assert.rejects(Deno.stat(`${dir}/y`), Deno.errors.NotFound);
    },
  );

  await t.step(
    `${target}: the audit log holds the content's digest, never the content`,
    async () => {
      const records = (await readAudit(auditFile)).filter((r) => r.tool === "file_write");
      assert.ok(records.length > 0);
      const text = JSON.stringify(records);
      assert.ok(!text.includes("a=1"), "content in the audit log");
      const decided = records.find((r) => r.event === "decided")!;
      assert.match(JSON.stringify(decided.args), /"sha256":"[0-9a-f]{64}"/);
    },
  );
}

Deno.test({
  name:
    "file_write on the local target: diff, atomic write, backup, digest guard, symlinks refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const base = await tempDirWith();
    await Deno.mkdir(`${base}/w`);
    await Deno.mkdir(`${base}/outside`);
    try {
      await using gateway = await startGateway({
        targets: `version: 1
targets:
  - id: local
    type: local
    capabilities: [file:write]
    files: { write_roots: [${base}/w] }
`,
        policy: ALLOW_ALL_POLICY,
      });
      const client = await connectHttp(gateway);
      try {
        await story(t, client, "local", `${base}/w`, `${base}/outside`, gateway.auditFile);
      } finally {
        await client.close();
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name: "file_write over real sshd: diff, atomic write, backup, digest guard, symlinks refused",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let fleet: Fleet | undefined;
    let dirs: { w: string; outside: string } | undefined;
    try {
      fleet = await startFleet({
        instances: 1,
        targets: (filesDir) => {
          dirs = { w: `${filesDir}/w`, outside: `${filesDir}/outside` };
          return [{
            id: "web-1",
            instance: 0,
            capabilities: ["file:write"],
            writeRoots: [dirs.w],
          }];
        },
        policy: ALLOW_ALL_POLICY,
      });
      // Both writable by the SSH user: only the script keeps writes inside the root.
      for (const dir of [dirs!.w, dirs!.outside]) {
        await Deno.mkdir(dir);
        await Deno.chmod(dir, 0o777);
      }
      await story(t, fleet.client, "web-1", dirs!.w, dirs!.outside, fleet.gateway.auditFile);
    } finally {
      await fleet?.close();
    }
  },
});
