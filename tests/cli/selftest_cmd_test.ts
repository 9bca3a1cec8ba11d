import assert from "node:assert/strict";
import { cli } from "./_cli.ts";
import { SELFTEST_HELP } from "../../src/cli/help.ts";
import { freePort, spawnGateway } from "../integration/_auth_gateway.ts";
import { runCli } from "../integration/_gateway.ts";

/** Runs `deno run -P=gateway --no-prompt main.ts ...args` as users do. */
async function tailops(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const run = await runCli(args);
  return { code: run.code, out: run.stdout, err: run.stderr };
}

const POLICY = `version: 1
rules:
  - id: observe-everything
    effect: allow
    tiers: [observe]
    targets: ["*"]
    params:
      lines: { max: 1000 }
identities:
  roles:
    viewer: { scopes: [system:read] }
  bindings:
    - { token: "ci-*", roles: [viewer] }
`;

interface Gateway extends AsyncDisposable {
  url: string;
  stateDir: string;
}

/** Spawns the real gateway over HTTP on a free port and waits for its `Listening on` line. */
async function startGateway(flags: string[] = []): Promise<Gateway> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-cli-selftest-" });
  const stateDir = `${dir}/state`;
  await Deno.writeTextFile(`${dir}/policy.yaml`, POLICY);
  const port = freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
  let gateway;
  try {
    gateway = await spawnGateway([
      "serve",
      "--transport",
      "http",
      "--listen",
      `127.0.0.1:${port}`,
      "--state-dir",
      stateDir,
      "--policy",
      `${dir}/policy.yaml`,
      "--public-url",
      url,
      ...flags,
    ]);
  } catch (error) {
    await remove();
    throw error;
  }
  const running = gateway;
  return {
    url,
    stateDir,
    async [Symbol.asyncDispose]() {
      await running.stop();
      await remove();
    },
  };
}

async function initialize(url: string, token: string): Promise<number> {
  const response = await fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-11-25",
        capabilities: {},
        clientInfo: { name: "test", version: "1" },
      },
    }),
  });
  await response.body?.cancel();
  return response.status;
}

Deno.test({
  name: "a token minted by the CLI works on a real gateway until the CLI revokes it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway = await startGateway();
    const minted = await tailops(
      "token",
      "mint",
      "--sub",
      "ci-bot",
      "--role",
      "viewer",
      "--ttl",
      "10m",
      "--resource",
      gateway.url,
      "--state-dir",
      gateway.stateDir,
    );
    assert.equal(minted.code, 0, minted.err);
    const token = minted.out.trim();
    assert.equal(minted.out, `${token}\n`, "stdout holds the token alone");
    assert.equal(await initialize(gateway.url, token), 200);

    const jti = /Minted token ([0-9a-f-]{36})/.exec(minted.err)![1];
    const revoked = await tailops("token", "revoke", jti, "--state-dir", gateway.stateDir);
    assert.equal(revoked.code, 0, revoked.err);
    assert.equal(await initialize(gateway.url, token), 401);

    // A token minted for another resource URI is refused: the audience must match.
    const other = await tailops(
      "token",
      "mint",
      "--sub=ci-bot",
      "--role=viewer",
      "--ttl=10m",
      "--resource=http://127.0.0.1:8080/mcp",
      `--state-dir=${gateway.stateDir}`,
    );
    assert.equal(other.code, 0, other.err);
    assert.equal(await initialize(gateway.url, other.out.trim()), 401);
    // Without --resource, the audience is the running gateway's own.
    const own = await tailops(
      "token",
      "mint",
      "--sub=ci-bot",
      "--role=viewer",
      "--ttl=10m",
      `--state-dir=${gateway.stateDir}`,
    );
    assert.equal(own.code, 0, own.err);
    assert.equal(await initialize(gateway.url, own.out.trim()), 200);
  },
});

Deno.test({
  name: "selftest passes every check against our gateway, session_hijack included",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway = await startGateway();
    const other = await tailops(
      "token",
      "mint",
      "--sub=ci-other",
      "--role=viewer",
      "--ttl=10m",
      `--resource=${gateway.url}`,
      `--state-dir=${gateway.stateDir}`,
    );
    assert.equal(other.code, 0, other.err);
    const run = await tailops(
      "selftest",
      gateway.url,
      "--state-dir",
      gateway.stateDir,
      "--other-token",
      other.out.trim(),
    );
    assert.equal(run.code, 0, run.out + run.err);
    const results = run.out.trim().split("\n").slice(0, -1).map((l) => l.split(/ +/).slice(0, 2));
    assert.deepEqual(results, [
      ["PASS", "prm_document"],
      ["PASS", "challenge_401"],
      ["PASS", "wrong_audience"],
      ["PASS", "expired"],
      ["PASS", "bad_signature"],
      ["PASS", "alg_none"],
      ["PASS", "missing_scope_403"],
      ["PASS", "bad_host_403"],
      ["PASS", "bad_origin_403"],
      ["PASS", "session_hijack"],
      ["PASS", "discover_2026"],
      ["PASS", "header_mismatch_2026"],
      ["PASS", "request_state_not_credential"],
    ], run.out);
    assert.match(run.out, new RegExp(`All checks passed for ${gateway.url}\n$`));

    // Without --other-token the hijack check is skipped, which is not a failure.
    const alone = await cli("selftest", gateway.url, "--state-dir", gateway.stateDir, "--json");
    assert.equal(alone.code, 0, alone.out);
    const report = JSON.parse(alone.out);
    assert.equal(report.ok, true);
    assert.deepEqual(
      report.checks.filter((c: { result: string }) => c.result !== "pass").map((
        c: { name: string; result: string },
      ) => [c.name, c.result]),
      [["session_hijack", "skip"]],
    );
  },
});

Deno.test({
  name: "selftest fails the authentication checks against a gateway started with --no-auth",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using gateway = await startGateway(["--no-auth"]);
    const run = await tailops(
      "selftest",
      gateway.url,
      "--state-dir",
      gateway.stateDir,
      "--token",
      "x".repeat(43),
      "--other-token",
      "y".repeat(43),
    );
    assert.equal(run.code, 1, run.out + run.err);
    const failed = run.out.split("\n").filter((l) => l.startsWith("FAIL")).map((l) =>
      l.split(/ +/)[1]
    );
    // No authorization server: no metadata is served, which is right (prm_document passes).
    assert.deepEqual(failed, [
      "challenge_401",
      "wrong_audience",
      "expired",
      "bad_signature",
      "alg_none",
      "missing_scope_403",
      "session_hijack",
      "request_state_not_credential",
    ], run.out);
    // Host and Origin are checked with or without authentication.
    assert.match(run.out, /^PASS bad_host_403/m);
    assert.match(run.out, /^PASS bad_origin_403/m);
    assert.match(run.out, /\n8 check\(s\) failed\n$/);
  },
});

Deno.test("selftest refuses a URL that is not http(s) or that nothing answers at", async () => {
  const bad = await cli("selftest", "ftp://example.com/mcp");
  assert.equal(bad.code, 2);
  assert.match(
    bad.err,
    /Invalid URL "ftp:\/\/example.com\/mcp": expected the gateway's MCP endpoint/,
  );
  const port = freePort();
  const down = await cli("selftest", `http://127.0.0.1:${port}/mcp`);
  assert.equal(down.code, 1);
  assert.equal(
    down.err,
    `tailops: Cannot reach http://127.0.0.1:${port}/mcp: expected a running gateway, found the connection was refused`,
  );
  const usage = await cli("selftest");
  assert.equal(usage.code, 2);
  const help = await cli("selftest", "--help");
  assert.equal(help.out, SELFTEST_HELP);
});
