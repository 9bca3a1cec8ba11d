/**
 * deploy/polkit/50-tailops.rules and deploy/sudoers.example, for real: a
 * clean Debian root filesystem with D-Bus, polkitd and sudo (Debian 12's
 * packages), the offline bundle installed, booted with systemd-nspawn. The
 * gateway's local target, inside the hardened unit, controls the unit the
 * polkit rule lists and is refused by polkit for another one its own policy
 * would allow; the sudoers file passes visudo, and as the login user its rule
 * lets exactly the gateway's argv through `sudo -n`.
 */
import assert from "node:assert/strict";
import { freePort } from "../integration/_auth_gateway.ts";
import { Client, REPO_DIR, StreamableHTTPClientTransport } from "../integration/_gateway.ts";
import { boot, nspawnSkipReason } from "./_nspawn.ts";
import { installBundle, POLKIT_ROOTFS_TAR, rootfsSkipReason, unpackRootfs } from "./_rootfs.ts";
import { waitHealthy } from "./_viewer.ts";

const skip = rootfsSkipReason(POLKIT_ROOTFS_TAR) ?? nspawnSkipReason();
if (skip) console.warn(`polkit_boot_test: skipped: ${skip}`);

const ALLOWED = "tailops-demo.service";
const OTHER = "tailops-other.service";

const TARGETS = `version: 1
targets:
  - id: local
    type: local
    capabilities: [system:read, system:control]
`;

// The gateway's own policy allows both units: polkit is the second wall.
const POLICY = `version: 1
rules:
  - { id: observe, effect: allow, tiers: [observe], targets: ["*"] }
  - id: demo-services
    effect: allow
    operations: [service_control]
    targets: ["*"]
    params:
      unit: { pattern: "tailops-(demo|other)\\\\.service" }
identities:
  roles:
    operator: { scopes: [system:read, system:control] }
  bindings:
    - { local: "*", roles: [operator] }
`;

const DEMO_UNIT = `[Unit]
Description=A service the gateway may restart (polkit test)
[Service]
ExecStart=/bin/sleep infinity
[Install]
WantedBy=multi-user.target
`;

Deno.test({
  name:
    "polkit lets the hardened gateway control exactly the units its rule lists, and the sudoers rules pass visudo and admit only the gateway's argv",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using root = await unpackRootfs(POLKIT_ROOTFS_TAR);
    const port = freePort();
    await installBundle(root, ["--listen", `127.0.0.1:${port}`]);
    await Deno.writeTextFile(`${root.dir}/etc/tailops/targets.yaml`, TARGETS);
    await Deno.writeTextFile(`${root.dir}/etc/tailops/policy.yaml`, POLICY);
    for (const unit of [ALLOWED, OTHER]) {
      await Deno.writeTextFile(`${root.dir}/etc/systemd/system/${unit}`, DEMO_UNIT);
      await Deno.symlink(
        `/etc/systemd/system/${unit}`,
        `${root.dir}/etc/systemd/system/multi-user.target.wants/${unit}`,
      );
    }
    // The shipped files, with the example units replaced by the test's.
    const rules = (await Deno.readTextFile(`${REPO_DIR}/deploy/polkit/50-tailops.rules`))
      .replace('["nginx.service", "jellyfin.service"]', `["${ALLOWED}"]`);
    assert.ok(rules.includes(ALLOWED), "the rule's unit list was found and replaced");
    await Deno.writeTextFile(`${root.dir}/etc/polkit-1/rules.d/50-tailops.rules`, rules);
    const sudoers = (await Deno.readTextFile(`${REPO_DIR}/deploy/sudoers.example`))
      .replaceAll("nginx.service", ALLOWED);
    await Deno.writeTextFile(`${root.dir}/etc/sudoers.d/tailops`, sudoers, { mode: 0o440 });
    const visudo = await root.run(["/usr/sbin/visudo", "-c", "-f", "/etc/sudoers.d/tailops"]);
    assert.equal(visudo.code, 0, `${visudo.stdout}${visudo.stderr}`);

    await using container = boot(root.dir);
    await waitHealthy(
      `http://127.0.0.1:${port}/healthz`,
      () => container.exited() ? `systemd-nspawn exited:\n${container.console()}` : undefined,
    );
    const url = `http://127.0.0.1:${port}/mcp`;
    // As README's Deployment section says: sudo tailops token mint (it drops to tailops).
    const mint = await container.inside([
      "/usr/bin/sudo",
      "/usr/local/bin/tailops",
      "token",
      "mint",
      "--sub",
      "ops",
      "--role",
      "operator",
      "--ttl",
      "1h",
      "--resource",
      url,
    ]);
    assert.equal(mint.code, 0, mint.stderr);
    const token = mint.stdout.trim().split("\n").at(-1)!;
    const pid = async (unit: string) =>
      (await container.inside(["/usr/bin/systemctl", "show", "-P", "MainPID", unit])).stdout
        .trim();

    const client = new Client({ name: "polkit-boot-test", version: "0.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(url), {
        requestInit: { headers: { Authorization: `Bearer ${token}` } },
      }),
    );
    try {
      const restart = async (unit: string) => {
        const result = await client.callTool({
          name: "service_control",
          arguments: { target: "local", unit, action: "restart" },
        });
        return (result.structuredContent as {
          results: { status: string; error?: { message?: string } }[];
        }).results[0];
      };
      const before = await pid(ALLOWED);
      const allowed = await restart(ALLOWED);
      assert.equal(allowed.status, "ok", JSON.stringify(allowed));
      assert.notEqual(await pid(ALLOWED), before, "the allowed unit was restarted");

      const otherBefore = await pid(OTHER);
      const refused = await restart(OTHER);
      assert.notEqual(refused.status, "ok", JSON.stringify(refused));
      assert.match(refused.error?.message ?? "", /polkit rule/);
      assert.equal(await pid(OTHER), otherBefore, "polkit kept the other unit as it was");
    } finally {
      await client.close();
    }

    // sudo as the SSH login user the example names: the gateway's exact argv only.
    const asTailops = (argv: string[]) =>
      container.inside([
        "/usr/sbin/runuser",
        "-u",
        "tailops",
        "--",
        "/usr/bin/sudo",
        "-n",
        ...argv,
      ]);
    const before = await pid(ALLOWED);
    const viaSudo = await asTailops([
      "/usr/bin/systemctl",
      "--no-ask-password",
      "restart",
      "--",
      ALLOWED,
    ]);
    assert.equal(viaSudo.code, 0, viaSudo.stderr);
    assert.notEqual(await pid(ALLOWED), before);
    for (
      const argv of [
        ["/usr/bin/systemctl", "--no-ask-password", "restart", "--", OTHER],
        ["/usr/bin/systemctl", "restart", ALLOWED],
        ["/usr/bin/systemctl", "--no-ask-password", "restart", "--", ALLOWED, OTHER],
      ]
    ) {
      const denied = await asTailops(argv);
      assert.equal(denied.code, 1, argv.join(" "));
      assert.match(denied.stderr, /sudo: a password is required/, argv.join(" "));
    }
  },
});
