/**
 * The install script on a clean Debian root filesystem (debootstrap minbase,
 * built once by scripts/testbed/debian_rootfs.sh): an offline bundle made
 * here installs with no network at all, again without touching the
 * configuration, and the exact command line of the installed unit — as its
 * user, groups, environment and working directory — serves an MCP client
 * holding a viewer token minted with the installed `tailops` command.
 * tests/deploy/systemd_boot_test.ts runs the same install under systemd
 * itself (systemd-nspawn); this one needs only chroot and namespaces.
 */
import assert from "node:assert/strict";
import { REPO_DIR } from "../integration/_gateway.ts";
import { assertViewerWorks, viewerMintArgs, waitHealthy } from "./_viewer.ts";
import { freePort } from "../integration/_auth_gateway.ts";
import {
  installBundle,
  INSTALLER,
  parseEnvFile,
  parseUnit,
  type Rootfs,
  rootfsSkipReason,
  unpackRootfs,
} from "./_rootfs.ts";

const skip = rootfsSkipReason();
if (skip) console.warn(`install_rootfs_test: skipped: ${skip}`);

async function install(root: Rootfs, ...args: string[]) {
  const run = await root.run(["bash", INSTALLER, ...args]);
  assert.equal(run.code, 0, `install.sh ${args.join(" ")}:\n${run.stderr}`);
  return run;
}

Deno.test({
  name:
    "install.sh installs an offline bundle into a clean Debian root filesystem, and the unit's command line serves a viewer token over HTTP",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using root = await unpackRootfs();
    const port = freePort();
    // No network namespace: nothing can be downloaded.
    const first = await installBundle(root, ["--listen", `127.0.0.1:${port}`]);
    assert.match(first.stderr, /created system user tailops/);
    assert.match(first.stderr, /tailops\.service enabled/);

    const passwd = await Deno.readTextFile(`${root.dir}/etc/passwd`);
    const entry = passwd.split("\n").find((l) => l.startsWith("tailops:"))!.split(":");
    assert.equal(entry[5], "/var/lib/tailops");
    assert.equal(entry[6], "/usr/sbin/nologin");
    const state = await Deno.stat(`${root.dir}/var/lib/tailops`);
    assert.equal(state.uid, Number(entry[2]));
    assert.equal(state.mode! & 0o777, 0o700);
    const etc = await Deno.stat(`${root.dir}/etc/tailops/policy.yaml`);
    assert.equal(etc.uid, 0);
    assert.equal(etc.mode! & 0o777, 0o640);
    assert.match(await Deno.readTextFile(`${root.dir}/etc/tailops/policy.yaml`), /viewer:/);
    const enabled = await Deno.readLink(
      `${root.dir}/etc/systemd/system/multi-user.target.wants/tailops.service`,
    );
    assert.equal(enabled, "/etc/systemd/system/tailops.service");
    // The service cannot change its own program or packages.
    assert.equal((await Deno.stat(`${root.dir}/opt/tailops/deno-dir`)).uid, 0);

    // Again: an upgrade in place keeps the operator's configuration.
    const targets = `${root.dir}/etc/tailops/targets.yaml`;
    await Deno.writeTextFile(targets, "# edited by the operator\n", { append: true });
    const second = await install(root, "--bundle", "/tmp/tailops.tar");
    assert.doesNotMatch(second.stderr, /created system user|wrote \/etc/);
    assert.match(await Deno.readTextFile(targets), /# edited by the operator/);

    // The installed unit, as systemd would run it.
    const unitText = await Deno.readTextFile(`${root.dir}/etc/systemd/system/tailops.service`);
    const unit = parseUnit(unitText);
    assert.equal(unit.user, "tailops");
    const env: Record<string, string> = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin",
      ...unit.environment,
    };
    for (const file of unit.environmentFiles) {
      const text = await Deno.readTextFile(`${root.dir}${file.replace(/^-/, "")}`);
      Object.assign(env, parseEnvFile(text));
    }
    assert.equal(env.TAILOPS_LISTEN, `127.0.0.1:${port}`);
    const gateway = root.spawn([
      "/usr/bin/setpriv",
      `--reuid=${unit.user}`,
      `--regid=${unit.group}`,
      `--groups=${unit.supplementaryGroups.join(",")}`,
      "--no-new-privs",
      "--bounding-set=-all",
      "--inh-caps=-all",
      "/usr/bin/env",
      "-i",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      "/bin/sh",
      "-c",
      'cd "$0" && exec "$@"',
      unit.workingDirectory,
      ...unit.execStart,
    ]);
    let exited = false;
    gateway.status.then(() => exited = true);
    try {
      await waitHealthy(
        `http://127.0.0.1:${port}/healthz`,
        () => exited ? `the gateway exited:\n${gateway.stderr()}` : undefined,
      );
      const url = `http://127.0.0.1:${port}/mcp`;
      const mint = await root.run(["/usr/local/bin/tailops", ...viewerMintArgs(url)]);
      assert.equal(mint.code, 0, mint.stderr);
      const token = mint.stdout.trim().split("\n").at(-1)!;

      await assertViewerWorks(url, token);
      const tokenFile = await Deno.stat(`${root.dir}/var/lib/tailops/admin.token`);
      assert.equal(tokenFile.mode! & 0o777, 0o600);
    } finally {
      await gateway.stop();
    }
    assert.match(gateway.stderr(), /stopping/);

    const verify = await root.run([
      "/usr/local/bin/tailops",
      "audit",
      "verify",
      "/var/lib/tailops/audit.jsonl",
    ]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /OK/);

    // Uninstall keeps configuration and state; --purge removes them and the user.
    await root.run(["bash", INSTALLER, "uninstall"]).then((r) => assert.equal(r.code, 0, r.stderr));
    await assert.rejects(Deno.stat(`${root.dir}/opt/tailops`));
    await assert.rejects(Deno.stat(`${root.dir}/etc/systemd/system/tailops.service`));
    await assert.rejects(
      Deno.lstat(`${root.dir}/etc/systemd/system/multi-user.target.wants/tailops.service`),
    );
    await Deno.stat(`${root.dir}/etc/tailops/targets.yaml`);
    const purge = await root.run(["bash", INSTALLER, "uninstall", "--purge"]);
    assert.equal(purge.code, 0, purge.stderr);
    await assert.rejects(Deno.stat(`${root.dir}/var/lib/tailops`));
    assert.doesNotMatch(await Deno.readTextFile(`${root.dir}/etc/passwd`), /^tailops:/m);
  },
});

Deno.test({
  name:
    "install.sh refuses an offline install whose Deno cache lacks the gateway's packages, in one line",
  ignore: skip !== undefined,
  async fn() {
    await using root = await unpackRootfs();
    // A source tree and deno, but an empty cache and no network.
    const copy = await new Deno.Command("sh", {
      args: [
        "-c",
        'mkdir -p "$1/tmp/src" && cd "$2" && cp -a main.ts deno.json deno.lock src policy deploy "$1/tmp/src/" && cp "$(readlink -f "$(command -v deno)")" "$1/tmp/deno" && mkdir "$1/tmp/empty"',
        "sh",
        root.dir,
        REPO_DIR,
      ],
    }).output();
    assert.ok(copy.success, new TextDecoder().decode(copy.stderr));
    const run = await root.run([
      "bash",
      "/tmp/src/deploy/install.sh",
      "--source",
      "/tmp/src",
      "--deno",
      "/tmp/deno",
      "--deno-dir",
      "/tmp/empty",
      "--offline",
    ]);
    assert.equal(run.code, 1);
    const lines = run.stderr.trim().split("\n");
    assert.match(lines.at(-1)!, /^tailops-install: .*not all in the Deno cache \(offline\)/);
    // Nothing half-installed.
    await assert.rejects(Deno.stat(`${root.dir}/opt/tailops/app`));
    await assert.rejects(Deno.stat(`${root.dir}/usr/local/bin/tailops`));
  },
});
