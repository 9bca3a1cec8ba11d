/**
 * deploy/docker/Dockerfile builds here from local parts only — a Debian base
 * imported from the debootstrapped root filesystem and an offline bundle of
 * this tree — with the build's network off, on the testbed's real dockerd;
 * the container then serves a viewer token minted inside it. The compose
 * file's Tailscale sidecar image cannot be pulled here (no registry), so the
 * sidecar is not part of this test.
 */
import assert from "node:assert/strict";
import { DockerdTestbed } from "../../scripts/testbed/dockerd.ts";
import { REPO_DIR } from "../integration/_gateway.ts";
import { freePort } from "../integration/_auth_gateway.ts";
import { makeBundle, ROOTFS_TAR, rootfsSkipReason } from "./_rootfs.ts";
import { assertViewerWorks, viewerMintArgs, waitHealthy } from "./_viewer.ts";

function skipReason(): string | undefined {
  const rootfs = rootfsSkipReason();
  if (rootfs) return rootfs;
  try {
    Deno.statSync("/usr/sbin/dockerd");
    Deno.statSync("/usr/bin/docker");
  } catch {
    return "no dockerd/docker (Debian docker.io)";
  }
  return undefined;
}

const skip = skipReason();
if (skip) console.warn(`docker_image_test: skipped: ${skip}`);

Deno.test({
  name:
    "the Dockerfile builds offline from a local Debian base and a bundle, and its container serves a viewer token",
  ignore: skip !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using testbed = await DockerdTestbed.start({ image: false });
    const context = await Deno.makeTempDir({ prefix: "tailops-docker-" });
    try {
      await Deno.copyFile(`${REPO_DIR}/deploy/docker/Dockerfile`, `${context}/Dockerfile`);
      await makeBundle(`${context}/tailops.tar`);
      await testbed.docker("import", ROOTFS_TAR, "tailops-debian:bookworm");
      await testbed.docker(
        "build",
        "--quiet",
        "--network",
        "none",
        "--build-arg",
        "BASE=tailops-debian:bookworm",
        "-t",
        "tailops:test",
        context,
      );
      const port = freePort();
      // The testbed's dockerd has no bridge: host networking, loopback only.
      await testbed.docker(
        "run",
        "-d",
        "--name",
        "tailops",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "-e",
        `TAILOPS_LISTEN=127.0.0.1:${port}`,
        "tailops:test",
      );
      await waitHealthy(`http://127.0.0.1:${port}/healthz`, () => undefined);
      const url = `http://127.0.0.1:${port}/mcp`;
      const minted = await testbed.docker(
        "exec",
        "tailops",
        "tailops",
        ...viewerMintArgs(url),
      );
      await assertViewerWorks(url, minted.split("\n").at(-1)!);
      assert.equal(await testbed.docker("exec", "tailops", "id", "-un"), "tailops");
    } finally {
      await Deno.remove(context, { recursive: true });
    }
  },
});
