/**
 * The shipped example operations (`operations/*.yaml`) through the real
 * gateway over real sshd. The programs they name (nginx, systemctl,
 * certbot, apt-get, fail2ban-client) are stand-ins on the SSH user's PATH
 * that print the argv they were given, so the test shows exactly what each
 * operation runs, step by step, without changing this machine.
 *
 * @module
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "./_gateway.ts";
import { ALLOW_ALL_POLICY, call, type Entry } from "./_mcp_checks.ts";
import { type Fleet, startFleet } from "./_fleet.ts";

const PROGRAMS = ["nginx", "systemctl", "certbot", "apt-get", "fail2ban-client"];

type Steps = { argv: string[]; stdout: string }[];

Deno.test({
  name: "the shipped example operations run exactly their argv over real sshd",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    let fleet: Fleet | undefined;
    try {
      fleet = await startFleet({
        instances: 1,
        targets: () => [{
          id: "web-1",
          instance: 0,
          capabilities: ["system:read", "system:control", "system:admin"],
        }],
        policy: ALLOW_ALL_POLICY,
        env: { TAILOPS_OPERATIONS: `${REPO_DIR}/operations` },
      });
      // Stand-ins that print their name and arguments, one per line.
      const bin = `${fleet.filesDir}/bin`;
      await Deno.mkdir(bin, { mode: 0o755 });
      for (const name of PROGRAMS) {
        await Deno.writeTextFile(`${bin}/${name}`, `#!/bin/sh\nprintf '%s\\n' "\${0##*/}" "$@"\n`, {
          mode: 0o755,
        });
        await Deno.chmod(`${bin}/${name}`, 0o755);
      }
      await Deno.writeTextFile(
        fleet.testbed.instances[0].configPath,
        `SetEnv PATH=${bin}:/usr/bin:/bin\n`,
        { append: true },
      );
      await fleet.testbed.restart(0);
      const client = fleet.client;
      const run = async (name: string, args: Record<string, unknown>): Promise<Entry> => {
        const called = await call(client, name, { target: "web-1", ...args });
        assert.equal(called.results[0]?.status, args.dry_run ? "planned" : "ok", called.text);
        return called.results[0];
      };
      const argvs = (entry: Entry) =>
        (entry.data?.steps as Steps).map((s) => s.stdout.trim().split("\n"));

      await t.step(
        "nginx_reload tests the configuration, then reloads; dry run runs nginx -t",
        async () => {
          assert.deepEqual(argvs(await run("nginx_reload", {})), [
            ["nginx", "-t"],
            ["systemctl", "reload", "nginx.service"],
          ]);
          const dry = await run("nginx_reload", { dry_run: true });
          const check = (dry.plan as { check: { stdout: string; exit_code: number } }).check;
          assert.equal(check.stdout, "nginx\n-t\n");
          assert.equal(check.exit_code, 0);
        },
      );

      await t.step("certbot_renew adds --dry-run and --cert-name only when asked", async () => {
        assert.deepEqual(argvs(await run("certbot_renew", {})), [
          ["certbot", "renew", "--non-interactive"],
        ]);
        assert.deepEqual(
          argvs(await run("certbot_renew", { staging: true, cert_name: "example.org" })),
          [["certbot", "renew", "--non-interactive", "--dry-run", "--cert-name=example.org"]],
        );
        const bad = await call(client, "certbot_renew", { target: "web-1", cert_name: "x;reboot" });
        assert.equal(bad.isError, true, bad.text);
      });

      await t.step("apt_update and fail2ban_status return their output as lines", async () => {
        const apt = await run("apt_update", {});
        assert.deepEqual(apt.data?.result, ["apt-get", "update", "-q"]);
        const all = await run("fail2ban_status", {});
        assert.deepEqual(all.data?.result, ["fail2ban-client", "status"]);
        const jail = await run("fail2ban_status", { jail: "sshd" });
        assert.deepEqual(jail.data?.result, ["fail2ban-client", "status", "sshd"]);
      });
    } finally {
      await fleet?.close();
    }
  },
});
