/**
 * file_write and file_restore under sudo, through the real gateway and the
 * official SDK client, against real sshd and a real `sudo`: the sshd runs in
 * its own mount namespace whose `/etc/sudoers.d` holds one rule (the test
 * user may run `/bin/sh` as root without a password), so the machine's sudo
 * configuration is never touched. Where the target's `sudo` names the
 * operation the race-free write script runs as `sudo -n -- /bin/sh -c
 * SCRIPT` and can write a root-owned directory, keeping the atomic write,
 * the backup and the refusal of symlinks; elsewhere it runs as the SSH user.
 *
 * @module
 */
import assert from "node:assert/strict";
import { call, type Entry } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";
import { TEST_USER } from "../../scripts/testbed/sshd.ts";
import { sshFixture } from "../exec/_ssh_fixture.ts";
import { createHash } from "node:crypto";

const POLICY = `version: 1
rate_limits:
  admin: { per_minute: 6000 }
rules:
  - id: all
    effect: allow
    operations: ["*"]
    targets: ["*"]
`;

async function sudoInstalled(): Promise<boolean> {
  return await Deno.stat("/usr/bin/sudo").then(() => true, () => false);
}

type Client = Fleet["client"];

async function one(client: Client, tool: string, args: Record<string, unknown>): Promise<Entry> {
  const called = await call(client, tool, args);
  assert.equal(called.results.length, 1, called.text);
  return called.results[0];
}

Deno.test({
  name:
    "file_write and file_restore run under sudo where the target's sudo names them, refusing symlinks and keeping backups",
  ignore: !(await sudoInstalled()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let fleet: Fleet | undefined;
    let dirs: { etc: string; outside: string } | undefined;
    try {
      fleet = await startFleet({
        instances: 1,
        sudoers: `${TEST_USER} ALL=(root) NOPASSWD: /bin/sh`,
        targets: (filesDir) => {
          dirs = { etc: `${filesDir}/etc`, outside: `${filesDir}/outside` };
          const common = { instance: 0, capabilities: ["file:write"], writeRoots: [dirs.etc] };
          return [
            { id: "with-sudo", sudo: "[file_write, file_restore]", ...common },
            { id: "as-user", ...common },
          ];
        },
        policy: POLICY,
      });
      const { etc, outside } = dirs!;
      // Root's, like /etc: the SSH user can enter it but not write it.
      await Deno.mkdir(etc, { mode: 0o755 });
      await Deno.chmod(etc, 0o755);
      await Deno.mkdir(outside, { mode: 0o755 });
      await Deno.writeTextFile(`${outside}/victim`, "untouched\n");
      await Deno.writeTextFile(`${etc}/secret.conf`, "root only\n", { mode: 0o600 });
      await Deno.chmod(`${etc}/secret.conf`, 0o600);
      const client = fleet.client;
      const file = `${etc}/app.conf`;

      await t.step("without sudo the SSH user cannot write the root-owned directory", async () => {
        const entry = await one(client, "file_write", {
          target: "as-user",
          path: file,
          content: "a=1\n",
        });
        assert.equal(entry.status, "failed", JSON.stringify(entry));
        await assert.rejects(Deno.stat(file), Deno.errors.NotFound);
        const dry = await one(client, "file_write", {
          target: "as-user",
          path: `${etc}/secret.conf`,
          content: "x\n",
          dry_run: true,
        });
        const check = (dry.plan as { check: { error?: { code: string } } }).check;
        assert.ok(check.error, "the user cannot read a root-only file");
      });

      await t.step(
        "dry run under sudo reads a root-only file and says sudo runs the script",
        async () => {
          const dry = await one(client, "file_write", {
            target: "with-sudo",
            path: `${etc}/secret.conf`,
            content: "root only, changed\n",
            dry_run: true,
          });
          const plan = dry.plan as { sudo?: string; check: { diff: string } };
          assert.equal(plan.sudo, "sudo -n -- /bin/sh -c SCRIPT");
          assert.match(plan.check.diff, /\n-root only\n\+root only, changed\n$/);
        },
      );

      await t.step(
        "a write under sudo is made by root with its mode; a repeat changes nothing",
        async () => {
          const entry = await one(client, "file_write", {
            target: "with-sudo",
            path: file,
            content: "a=1\n",
            mode: "0640",
          });
          assert.equal(entry.status, "ok", JSON.stringify(entry));
          const info = await Deno.stat(file);
          assert.equal(info.uid, 0);
          assert.equal(info.mode! & 0o777, 0o640);
          assert.equal(await Deno.readTextFile(file), "a=1\n");
          const again = await one(client, "file_write", {
            target: "with-sudo",
            path: file,
            content: "a=1\n",
            mode: "0640",
          });
          assert.equal(again.data?.changed, false, JSON.stringify(again));
        },
      );

      await t.step("a change keeps the backup; owner and group are set as root can", async () => {
        const entry = await one(client, "file_write", {
          target: "with-sudo",
          path: file,
          content: "a=2\n",
          owner: "daemon",
          group: "daemon",
        });
        assert.equal(entry.status, "ok", JSON.stringify(entry));
        assert.equal(await Deno.readTextFile(`${etc}/.app.conf.tailops-prev`), "a=1\n");
        assert.notEqual((await Deno.stat(file)).uid, 0);
      });

      await t.step("symlinks stay refused under sudo: at the name and on the path", async () => {
        await Deno.symlink(`${outside}/victim`, `${etc}/link.conf`);
        await Deno.symlink(outside, `${etc}/sub`);
        for (const path of [`${etc}/link.conf`, `${etc}/sub/victim`, `${etc}/sub/new.conf`]) {
          const entry = await one(client, "file_write", {
            target: "with-sudo",
            path,
            content: "owned\n",
          });
          assert.equal(entry.status, "failed", `${path}: ${JSON.stringify(entry)}`);
          assert.equal(entry.error?.code, "forbidden", JSON.stringify(entry));
        }
        assert.equal(await Deno.readTextFile(`${outside}/victim`), "untouched\n");
        await assert.rejects(Deno.stat(`${outside}/new.conf`), Deno.errors.NotFound);
      });

      await t.step("file_restore under sudo puts the backup back", async () => {
        const entry = await one(client, "file_restore", { target: "with-sudo", path: file });
        assert.equal(entry.status, "ok", JSON.stringify(entry));
        assert.equal(await Deno.readTextFile(file), "a=1\n");
        assert.equal(await Deno.readTextFile(`${etc}/.app.conf.tailops-prev`), "a=2\n");
      });
    } finally {
      await fleet?.close();
    }
  },
});

Deno.test({
  name: "a write under sudo where sudo asks for a password fails as forbidden and writes nothing",
  ignore: !(await sudoInstalled()),
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "tailops-wsudo-" });
    await Deno.chmod(base, 0o777);
    // The machine's own sudoers: the test user has no rule, so sudo -n refuses.
    const fx = await sshFixture({
      targets: () => [{ id: "gnu", extra: ["    files:", `      write_roots: [${base}]`] }],
    });
    try {
      const content = new TextEncoder().encode("x\n");
      const outcome = await fx.run("gnu", {
        kind: "fs_write",
        path: `${base}/f.conf`,
        roots: [base],
        content: btoa("x\n"),
        sha256: createHash("sha256").update(content).digest("hex"),
        mode: 0o644,
        backup: true,
        sudo: true,
        timeoutMs: 20_000,
        outputCapBytes: 4096,
      });
      assert.equal(outcome.ok, false);
      if (!outcome.ok) {
        assert.equal(outcome.error.code, "forbidden", outcome.error.message);
        assert.match(outcome.error.message, /passwordless sudo \(NOPASSWD\) for \/bin\/sh/);
      }
      await assert.rejects(Deno.stat(`${base}/f.conf`), Deno.errors.NotFound);
    } finally {
      await fx.close();
      await Deno.remove(base, { recursive: true });
    }
  },
});
