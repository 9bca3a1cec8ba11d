/**
 * The Tailscale identity channel attacked by a second, unprivileged local OS
 * user against the real gateway: it can neither connect to the private
 * socket nor become a tailnet user by writing the headers on loopback TCP,
 * while the gateway's own user (root here, as tailscaled) can. The gateway
 * refuses to start when the socket's directory is not private.
 *
 * @module
 */
import assert from "node:assert/strict";
import { tailnetPeer } from "../../src/http/tailscale_socket.ts";
import { authGateway, ROLES_YAML } from "./_auth_gateway.ts";

const PROBE_USER = "tailops-h3-probe";
const IS_ROOT = Deno.uid() === 0;

const POLICY = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "identities:",
  ROLES_YAML,
  "  bindings:",
  "    - { tailscale: boss@example.com, roles: [operator] }",
  "auth:",
  "  tailscale: { enabled: true }",
].join("\n");

const HEADERS = ["-H", "Tailscale-User-Login: boss@example.com", "-H", "Tailscale-User-Name: Boss"];

const INITIALIZE = JSON.stringify({
  jsonrpc: "2.0",
  id: 1,
  method: "initialize",
  params: {
    protocolVersion: "2025-06-18",
    capabilities: {},
    clientInfo: { name: "x", version: "0" },
  },
});

/** Creates the unprivileged probe user once (no home, no shell). */
async function ensureProbeUser(): Promise<void> {
  const exists = await new Deno.Command("id", {
    args: ["-u", PROBE_USER],
    stdout: "null",
    stderr: "null",
  })
    .output();
  if (exists.success) return;
  const made = await new Deno.Command("useradd", {
    args: ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PROBE_USER],
    stderr: "piped",
  }).output();
  // Another test process may have created it in the meantime.
  const again = await new Deno.Command("id", { args: ["-u", PROBE_USER], stdout: "null" }).output();
  assert.ok(made.success || again.success, new TextDecoder().decode(made.stderr));
}

/** Runs curl as `user` (null: as this process's user); returns its exit code and output. */
async function curl(
  user: string | null,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const curlArgs = ["-sS", "--max-time", "20", "-o", "/dev/null", "-w", "%{http_code}", ...args];
  const command = user === null
    ? new Deno.Command("curl", { args: curlArgs, stdout: "piped", stderr: "piped" })
    : new Deno.Command("setpriv", {
      args: [`--reuid=${user}`, `--regid=${user}`, "--clear-groups", "--", "curl", ...curlArgs],
      stdout: "piped",
      stderr: "piped",
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin" },
    });
  const out = await command.output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

function post(url: string): string[] {
  return [
    ...["-X", "POST", "-H", "Content-Type: application/json"],
    ...["-H", "Accept: application/json, text/event-stream", "--data", INITIALIZE, url],
  ];
}

Deno.test({
  name: "A second local OS user can neither reach the Tailscale socket nor impersonate over TCP",
  ignore: !IS_ROOT,
  async fn() {
    await ensureProbeUser();
    await using gw = await authGateway(POLICY);
    await gw.start();
    const socket = `${gw.stateDir}/tailscale/serve.sock`;
    // Open every directory above the socket's own, as a careless operator might:
    // the socket's directory alone must keep other users out.
    await Deno.chmod(gw.workDir, 0o755);
    await Deno.chmod(gw.stateDir, 0o755);
    const dirMode = (await Deno.stat(`${gw.stateDir}/tailscale`)).mode! & 0o777;
    assert.equal(dirMode, 0o700);
    assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o600);

    const tcpUrl = gw.url.href;
    // The probe user cannot connect to the socket at all.
    const viaSocket = await curl(PROBE_USER, [
      "--unix-socket",
      socket,
      ...HEADERS,
      ...post(tcpUrl),
    ]);
    assert.notEqual(viaSocket.code, 0, viaSocket.stdout);
    assert.match(viaSocket.stderr, /connect|Permission denied|Couldn't/i);
    // Nor does it help to put the headers on loopback TCP, in any spelling.
    for (
      const headers of [
        HEADERS,
        ["-H", "tailscale-user-login: boss@example.com"],
        ["-H", "TAILSCALE-USER-LOGIN: boss@example.com", "-H", "X-Forwarded-For: 100.64.0.1"],
      ]
    ) {
      const viaTcp = await curl(PROBE_USER, [...headers, ...post(tcpUrl)]);
      assert.equal(viaTcp.stdout, "401", `${headers.join(" ")}: ${viaTcp.stderr}`);
    }
    // The gateway's own user (root, as tailscaled runs) connects and is the tailnet user.
    const own = await curl(null, ["--unix-socket", socket, ...HEADERS, ...post(tcpUrl)]);
    assert.equal(own.stdout, "200", own.stderr);
    const client = await gw.connect({
      headers: { "Tailscale-User-Login": "boss@example.com" },
      socket,
    });
    const tools = (await client.listTools()).tools.map((tool) => tool.name);
    assert.ok(tools.includes("system_status"), tools.join(","));
    const initialized = (await gw.audit()).filter((r) => r.event === "decided");
    assert.equal(initialized.length, 0, "listing tools runs nothing");
  },
});

async function startFails(stateDir: string, prepare: (dir: string) => Promise<void>) {
  await using gw = await authGateway(POLICY);
  await Deno.mkdir(gw.stateDir, { recursive: true, mode: 0o700 });
  await prepare(`${gw.stateDir}/tailscale`);
  const error = await gw.start().then(() => undefined, (e: Error) => e);
  assert.ok(error, `${stateDir}: the gateway started`);
  return error.message;
}

Deno.test({
  name: "The gateway refuses to start when the Tailscale socket's directory is not private",
  ignore: !IS_ROOT,
  async fn(t) {
    await ensureProbeUser();
    await t.step("group- or world-accessible", async () => {
      for (const mode of [0o755, 0o750, 0o701, 0o770]) {
        const message = await startFails(String(mode), async (dir) => {
          await Deno.mkdir(dir);
          await Deno.chmod(dir, mode);
        });
        assert.match(message, /expected mode 0700 \(no access for group or others\)/);
      }
    });
    await t.step("owned by another user", async () => {
      const message = await startFails("owner", async (dir) => {
        await Deno.mkdir(dir, { mode: 0o700 });
        const uid = Number(
          new TextDecoder().decode(
            (await new Deno.Command("id", { args: ["-u", PROBE_USER], stdout: "piped" }).output())
              .stdout,
          ),
        );
        await Deno.chown(dir, uid, uid);
      });
      assert.match(message, /expected it owned by uid 0/);
    });
    await t.step("a symlink to a directory someone else controls", async () => {
      const elsewhere = await Deno.makeTempDir({ prefix: "tailops-ts-elsewhere-" });
      try {
        const message = await startFails("symlink", async (dir) => {
          await Deno.chmod(elsewhere, 0o700);
          await Deno.symlink(elsewhere, dir);
        });
        assert.match(message, /expected a directory, found a symlink/);
      } finally {
        await Deno.remove(elsewhere, { recursive: true });
      }
    });
  },
});

Deno.test({
  name: "Without auth.tailscale no socket is created and the TCP listener ignores the headers",
  async fn() {
    await using gw = await authGateway(POLICY.replace("enabled: true", "enabled: false"));
    await gw.start();
    await assert.rejects(Deno.lstat(`${gw.stateDir}/tailscale/serve.sock`), Deno.errors.NotFound);
    const response = await curl(null, [...HEADERS, ...post(gw.url.href)]);
    assert.equal(response.stdout, "401");
  },
});

Deno.test("tailnetPeer() takes one plain address from X-Forwarded-For, nothing else", () => {
  const table: [string | null, string | undefined][] = [
    ["100.101.102.103", "100.101.102.103"],
    ["fd7a:115c:a1e0::1", "fd7a:115c:a1e0::1"],
    [" 100.64.0.1 ", "100.64.0.1"],
    ["100.64.0.1, 10.0.0.1", undefined],
    ["evil.example", undefined],
    ["", undefined],
    [null, undefined],
    ["1".repeat(60), undefined],
  ];
  for (const [value, expected] of table) {
    const headers = new Headers(value === null ? {} : { "X-Forwarded-For": value });
    assert.equal(tailnetPeer(headers), expected, String(value));
  }
});
