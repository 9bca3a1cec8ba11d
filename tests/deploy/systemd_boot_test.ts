/**
 * The installed gateway under real systemd and the hardened unit: a clean
 * Debian root filesystem, the offline bundle installed in it, then booted
 * with systemd-nspawn (systemd as the container's PID 1, host network so a
 * loopback client reaches it). The unit must come up enabled and active by
 * itself, and the features its exceptions exist for must work inside the
 * sandbox: `ss` over netlink, other users' processes, another unit's journal.
 */
import assert from "node:assert/strict";
import { freePort } from "../integration/_auth_gateway.ts";
import { installBundle, rootfsSkipReason, unpackRootfs } from "./_rootfs.ts";
import { assertViewerWorks, viewerMintArgs, waitHealthy } from "./_viewer.ts";
import { Client, StreamableHTTPClientTransport } from "../integration/_gateway.ts";
import { boot, nspawnSkipReason } from "./_nspawn.ts";

function skipReason(): string | undefined {
  return rootfsSkipReason() ?? nspawnSkipReason();
}

const skip = skipReason();
if (skip) console.warn(`systemd_boot_test: skipped: ${skip}`);

Deno.test({
  name:
    "the installed unit starts by itself under systemd, hardened, and ss, other users' processes and the journal work inside it",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using root = await unpackRootfs();
    const port = freePort();
    await installBundle(root, ["--listen", `127.0.0.1:${port}`]);

    const container = boot(root.dir);
    try {
      await waitHealthy(
        `http://127.0.0.1:${port}/healthz`,
        () => container.exited() ? `systemd-nspawn exited:\n${container.console()}` : undefined,
      );
      const inside = (argv: string[]) => container.inside(argv);

      const show = await inside([
        "/usr/bin/systemctl",
        "show",
        "tailops.service",
        "--property=ActiveState,UnitFileState,User,NoNewPrivileges,ProtectSystem",
      ]);
      assert.equal(show.code, 0, show.stderr);
      for (
        const line of [
          "ActiveState=active",
          "UnitFileState=enabled",
          "User=tailops",
          "NoNewPrivileges=yes",
          "ProtectSystem=strict",
        ]
      ) {
        assert.ok(show.stdout.includes(line), `${line} not in:\n${show.stdout}`);
      }

      const url = `http://127.0.0.1:${port}/mcp`;
      const mint = await inside(["/usr/local/bin/tailops", ...viewerMintArgs(url)]);
      assert.equal(mint.code, 0, mint.stderr);
      const token = mint.stdout.trim().split("\n").at(-1)!;
      await assertViewerWorks(url, token);

      const client = new Client({ name: "systemd-boot-test", version: "0.0.0" });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(url), {
          requestInit: { headers: { Authorization: `Bearer ${token}` } },
        }),
      );
      try {
        const call = async (name: string, args: Record<string, unknown> = {}) => {
          const result = await client.callTool({ name, arguments: { target: "local", ...args } });
          const first = (result.structuredContent as {
            results: { status: string; data: Record<string, unknown> }[];
          }).results[0];
          assert.equal(first.status, "ok", `${name}: ${JSON.stringify(first)}`);
          return first.data;
        };
        // AF_NETLINK: ss sees the gateway's own listener.
        const sockets = (await call("listening_sockets")).sockets as { port: number }[];
        assert.ok(sockets.some((s) => s.port === port), JSON.stringify(sockets));
        // ProtectProc=default: root's processes (systemd itself) are visible.
        const processes = (await call("top_processes")).processes as { user: string }[];
        assert.ok(processes.some((p) => p.user === "root"), JSON.stringify(processes));
        // systemd-journal group: another unit's journal.
        const journal = await call("journal_logs", { unit: "systemd-journald.service", lines: 5 });
        assert.ok((journal.entries as unknown[]).length > 0, JSON.stringify(journal));
      } finally {
        await client.close();
      }
    } finally {
      // systemd-nspawn turns SIGTERM into a clean shutdown of the container.
      await container.shutdown();
    }
    const plain = container.console();
    assert.match(plain, /Stopp(ed|ing) tailops\.service/, plain);
  },
});
