/**
 * Identities end to end against the real gateway process: CLI-minted tokens
 * bound to roles, tools/list filtered per role, unbound and revoked tokens,
 * sessions bound to their creator, Tailscale headers from loopback, and the
 * local stdio user — one role model in every mode.
 *
 * @module
 */
import assert from "node:assert/strict";
import { CATALOG } from "../../src/ops/catalog.ts";
import { call } from "./_mcp_checks.ts";
import { type Client, readAudit, startStdioGateway } from "./_gateway.ts";
import { authGateway, postInitialize, ROLES_YAML, TARGETS_YAML } from "./_auth_gateway.ts";

type McpClient = InstanceType<typeof Client>;

const RULES_YAML = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control",
  "    tiers: [control]",
].join("\n");

/** Tokens by subject, the stdio user `carol` and a Tailscale login, each bound to a role. */
function identityPolicy(extra: string[] = []): string {
  return [
    RULES_YAML,
    "identities:",
    ROLES_YAML,
    "  bindings:",
    "    - { token: alice, roles: [operator] }",
    "    - { token: vera, roles: [viewer] }",
    "    - { token: bob, roles: [approver] }",
    "    - { local: carol, roles: [viewer] }",
    "    - { local: oscar, roles: [operator] }",
    "    - { tailscale: someone@example.com, roles: [viewer] }",
    ...extra,
  ].join("\n");
}

const tier = (name: string) => CATALOG.find((op) => op.name === name)?.tier;

async function toolNames(client: McpClient): Promise<string[]> {
  return (await client.listTools()).tools.map((tool) => tool.name).sort();
}

/** The text a client gets for a tool name; a thrown protocol error counts as text too. */
async function callText(client: McpClient, name: string, args: Record<string, unknown>) {
  try {
    return (await call(client, name, args)).text;
  } catch (error) {
    return (error as Error).message;
  }
}

const initialize = postInitialize;

Deno.test("CLI-minted tokens get their role's tools, and unbound or revoked tokens are refused", async (t) => {
  await using gw = await authGateway(identityPolicy());
  const alice = await gw.mint("alice", "operator");
  const vera = await gw.mint("vera", "viewer");
  await gw.start();

  let viewerTools: string[] = [];
  await t.step("a viewer sees only observe tools, and service_control looks unknown", async () => {
    const client = await gw.connect({ token: vera.token });
    viewerTools = await toolNames(client);
    assert.ok(viewerTools.length > 0);
    assert.deepEqual(viewerTools.filter((name) => tier(name) !== "observe"), []);
    assert.ok(viewerTools.includes("read_file"), "file:read is in the viewer role");
    assert.ok(!viewerTools.includes("service_control"));
    const args = { target: "local", unit: "ssh.service", action: "restart" };
    const unknown = await callText(client, "no_such_tool", args);
    const hidden = await callText(client, "service_control", args);
    assert.match(unknown, /Tool "no_such_tool" not found/);
    assert.equal(hidden, unknown.replaceAll("no_such_tool", "service_control"));
    const status = await call(client, "system_status", { target: "local" });
    assert.equal(status.results[0].status, "ok", status.text);
  });

  await t.step("an operator sees service_control, and no file tools", async () => {
    const client = await gw.connect({ token: alice.token });
    const tools = await toolNames(client);
    assert.ok(tools.includes("service_control"));
    assert.ok(!tools.includes("read_file"), "file:read is not in the operator role");
    const status = await call(client, "system_status", { target: "local" });
    assert.equal(status.results[0].status, "ok", status.text);
  });

  await t.step("a token whose subject no binding names gets 403 insufficient_scope", async () => {
    // The subject has no binding, and the role claim names no role of the policy.
    // token mint refuses that role against the running gateway...
    const mint = ["token", "mint", "--sub", "mallory", "--role", "ghost", "--ttl", "1h"];
    const refused = await gw.cli(mint);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /Unknown role "ghost" in .*: expected one of viewer, /);
    // ...so it is minted against another policy that has it.
    const other = `${gw.workDir}/ghost.yaml`;
    await Deno.writeTextFile(
      other,
      "version: 1\nrules: []\nidentities:\n  roles:\n    ghost: { scopes: [system:read] }\n",
    );
    const minted = await gw.cli([...mint, "--policy", other, "--resource", gw.url.href]);
    assert.equal(minted.code, 0, minted.stderr);
    const mallory = { token: minted.stdout.trim() };
    const response = await initialize(gw.url, { Authorization: `Bearer ${mallory.token}` });
    const body = await response.json();
    assert.equal(response.status, 403);
    assert.equal(body.error, "insufficient_scope");
    assert.match(response.headers.get("WWW-Authenticate") ?? "", /error="insufficient_scope"/);
  });

  await t.step("a session created with alice's token is refused to vera's token", async () => {
    const created = await initialize(gw.url, { Authorization: `Bearer ${alice.token}` });
    await created.body?.cancel();
    assert.equal(created.status, 200);
    const session = created.headers.get("mcp-session-id");
    assert.ok(session);
    const hijack = await fetch(gw.url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${vera.token}`,
        "mcp-session-id": session,
        "mcp-protocol-version": "2025-06-18",
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    const body = await hijack.json();
    assert.equal(hijack.status, 403);
    assert.match(body.error.message, /belongs to another identity/);
  });

  await t.step("the audit log attributes each call to its token subject", async () => {
    const decided = (await gw.audit()).filter((r) =>
      r.event === "decided" && r.tool === "system_status"
    );
    assert.deepEqual(decided.map((r) => r.identity).sort(), ["token:alice", "token:vera"]);
  });

  await t.step("a revoked token is refused with 401 by the running gateway", async () => {
    const before = await initialize(gw.url, { Authorization: `Bearer ${vera.token}` });
    await before.body?.cancel();
    assert.equal(before.status, 200);
    const revoked = await gw.cli(["token", "revoke", vera.jti]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await initialize(gw.url, { Authorization: `Bearer ${vera.token}` });
    await after.body?.cancel();
    assert.equal(after.status, 401);
    assert.match(after.headers.get("WWW-Authenticate") ?? "", /^Bearer /);
  });

  await t.step("the local stdio user bound to viewer gets the same tools over stdio", async () => {
    await using stdio = await startStdioGateway({
      targets: TARGETS_YAML,
      policy: identityPolicy(),
      env: { USER: "carol", LOGNAME: null },
    });
    assert.deepEqual(await toolNames(stdio.client), viewerTools);
    const status = await call(stdio.client, "system_status", { target: "local" });
    assert.equal(status.results[0].status, "ok", status.text);
    await stdio.stop();
    const decided = (await readAudit(stdio.auditFile)).filter((r) => r.event === "decided");
    assert.deepEqual(decided.map((r) => r.identity), ["local:carol"]);
  });

  await t.step("a local stdio user bound to operator sees service_control", async () => {
    await using stdio = await startStdioGateway({
      targets: TARGETS_YAML,
      policy: identityPolicy(),
      env: { USER: "oscar", LOGNAME: null },
    });
    const tools = await toolNames(stdio.client);
    assert.ok(tools.includes("service_control"));
    assert.ok(!tools.includes("read_file"));
  });

  await t.step("an unbound local stdio user sees no tools at all", async () => {
    await using stdio = await startStdioGateway({
      targets: TARGETS_YAML,
      policy: identityPolicy(),
      env: { USER: "nobody-here", LOGNAME: null },
    });
    let tools: string[] = [];
    try {
      tools = await toolNames(stdio.client);
    } catch (error) {
      // A server with no tools may not offer tools/list at all.
      assert.match((error as Error).message, /Method not found/);
    }
    assert.deepEqual(tools, []);
  });
});

Deno.test("Tailscale identity headers are trusted only on the tailscale serve socket, only when enabled", async (t) => {
  const headers = {
    "Tailscale-User-Login": "someone@example.com",
    "Tailscale-User-Name": "Some One",
  };

  await t.step("enabled: no bearer token, the header's login is the identity", async () => {
    await using gw = await authGateway(
      [identityPolicy(), "auth:", "  tailscale: { enabled: true }"].join("\n"),
    );
    await gw.start();
    const socket = `${gw.stateDir}/tailscale/serve.sock`;
    const client = await gw.connect({ headers, socket });
    const tools = await toolNames(client);
    assert.ok(tools.includes("read_file") && !tools.includes("service_control"), "viewer role");
    const status = await call(client, "system_status", { target: "local" });
    assert.equal(status.results[0].status, "ok", status.text);
    const decided = (await gw.audit()).filter((r) => r.event === "decided");
    assert.deepEqual(decided.map((r) => r.identity), ["tailscale:someone@example.com"]);

    const unix = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const unbound = await initialize(gw.url, { "Tailscale-User-Login": "stranger@example.com" }, {
      client: unix,
    });
    await unbound.body?.cancel();
    assert.equal(unbound.status, 403, "a login no binding names holds no scope");
    const overTcp = await initialize(gw.url, headers);
    await overTcp.body?.cancel();
    assert.equal(overTcp.status, 401, "the same headers over loopback TCP are not an identity");
    unix.close();
  });

  await t.step("disabled: the same headers are ignored and the request is 401", async () => {
    await using gw = await authGateway(
      [identityPolicy(), "auth:", "  tailscale: { enabled: false }"].join("\n"),
    );
    await gw.start();
    const response = await initialize(gw.url, headers);
    await response.body?.cancel();
    assert.equal(response.status, 401);
    assert.match(response.headers.get("WWW-Authenticate") ?? "", /^Bearer realm="tailops"/);
    const process = gw.process!;
    await gw.stop();
    assert.match(process.stderr(), /Ignored Tailscale identity headers/);
    const audit = await readAudit(gw.auditFile);
    assert.equal(audit.filter((r) => r.event === "decided").length, 0);
  });
});
