/**
 * deploy/docker/Dockerfile builds here from local parts only — a Debian base
 * imported from the debootstrapped root filesystem and an offline bundle of
 * this tree — with the build's network off, on the testbed's real dockerd;
 * the container then serves a viewer token minted inside it. Then
 * deploy/docker/compose.yaml itself, through docker-compose (v1, Debian's),
 * with a test override for what this machine lacks: the Tailscale image
 * cannot be pulled (no registry), so a stand-in container in the sidecar's
 * place, with the sidecar's volumes, does what `tailscale serve` does — an
 * HTTP request with Tailscale identity headers into the shared socket — and
 * the dockerd has no bridge, so both use the host network.
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

const COMPOSE = "/usr/bin/docker-compose";
const COMPOSE_SKIP = (() => {
  try {
    Deno.statSync(COMPOSE);
    return undefined;
  } catch {
    return "no docker-compose (apt-get install docker-compose)";
  }
})();

/** Runs docker-compose in `dir` against the testbed engine. */
async function compose(socket: string, dir: string, args: string[], env = {}) {
  const out = await new Deno.Command(COMPOSE, {
    args: ["--no-ansi", "-f", "compose.yaml", "-f", "test.override.yaml", ...args],
    cwd: dir,
    env: { DOCKER_HOST: `unix://${socket}`, TAILNET: "tail1234", TS_AUTHKEY: "tskey-test", ...env },
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

/** The stand-in sidecar's request: POST initialize through the shared socket, as `tailscale serve` proxies. */
const SERVE_PROBE = `
const client = Deno.createHttpClient({ proxy: { transport: "unix", path: "/serve/serve.sock" } });
const initialize = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: {
  protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "serve-probe", version: "0" } } });
const post = async (identity) => {
  const response = await fetch("http://tailops.tail1234.ts.net/mcp", {
    client,
    method: "POST",
    headers: {
      ...identity,
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
    },
    body: initialize,
  });
  await response.body?.cancel();
  return response.status;
};
const user = { "Tailscale-User-Login": "alice@example.com", "Tailscale-User-Name": "Alice" };
console.log(await post(user), await post({}));
`;

/**
 * compose.yaml as shipped, plus a test override: the gateway from the image
 * just built, host network, a loopback port; the sidecar's place taken by the
 * same image running the probe as root (tailscaled runs as root).
 */
async function composeWithStandInSidecar(socket: string, context: string): Promise<void> {
  await Deno.copyFile(`${REPO_DIR}/deploy/docker/compose.yaml`, `${context}/compose.yaml`);
  const port = freePort();
  await Deno.writeTextFile(
    `${context}/test.override.yaml`,
    [
      "services:",
      "  tailops:",
      "    image: tailops:test",
      "    network_mode: host",
      `    environment: { TAILOPS_LISTEN: "127.0.0.1:${port}" }`,
      "  tailscale:",
      "    image: tailops:test",
      "    network_mode: host",
      "    user: root",
      "",
    ].join("\n"),
  );
  await Deno.mkdir(`${context}/config`, { mode: 0o755 });
  await Deno.writeTextFile(
    `${context}/config/targets.yaml`,
    "version: 1\ntargets:\n  - id: local\n    type: local\n    capabilities: [system:read]\n",
    { mode: 0o644 },
  );
  await Deno.writeTextFile(
    `${context}/config/policy.yaml`,
    [
      "version: 1",
      "rules:",
      "  - { id: observe, tiers: [observe] }",
      "identities:",
      "  roles:",
      "    viewer: { scopes: [system:read] }",
      "  bindings:",
      "    - { tailscale: alice@example.com, roles: [viewer] }",
      "auth:",
      "  tailscale: { enabled: true }",
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  // The shipped file alone parses, and refuses to start without its two settings.
  const unset = await compose(socket, context, ["config", "--quiet"], { TAILNET: "" });
  assert.notEqual(unset.code, 0);
  assert.match(unset.stderr, /set TAILNET to your tailnet name/);
  const config = await compose(socket, context, ["config"]);
  assert.equal(config.code, 0, config.stderr);
  assert.match(config.stdout, /TAILOPS_PUBLIC_URL: https:\/\/tailops\.tail1234\.ts\.net\/mcp/);
  try {
    const up = await compose(socket, context, ["up", "-d", "--no-build", "tailops"]);
    assert.equal(up.code, 0, up.stderr);
    await waitHealthy(`http://127.0.0.1:${port}/healthz`, () => undefined);
    // The socket appears once the gateway is ready; the probe waits for it.
    let probe = { code: 1, stdout: "", stderr: "" };
    for (let i = 0; i < 60 && !probe.stdout.startsWith("200 "); i++) {
      probe = await compose(socket, context, [
        "run",
        "--rm",
        "--no-deps",
        "-T",
        "--entrypoint",
        "/opt/tailops/bin/deno",
        "tailscale",
        "eval",
        "--quiet",
        SERVE_PROBE,
      ]);
      if (!probe.stdout.startsWith("200 ")) await new Promise((r) => setTimeout(r, 500));
    }
    // A tailnet user's identity through the shared socket is enough; no identity, no entry.
    assert.equal(probe.stdout.trim(), "200 401", probe.stderr);
  } finally {
    await compose(socket, context, ["down", "-v", "--timeout", "10"]);
  }
}

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
      await testbed.docker("rm", "-f", "tailops");
      if (COMPOSE_SKIP) console.warn(`docker_image_test: compose part skipped: ${COMPOSE_SKIP}`);
      else await composeWithStandInSidecar(testbed.socket, context);
    } finally {
      await Deno.remove(context, { recursive: true });
    }
  },
});
