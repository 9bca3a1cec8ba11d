/**
 * Several real gateways sharing one real PostgreSQL (`scripts/testbed/postgres.ts`)
 * as a load-balanced deployment runs them: one signing key (STATE/keys
 * copied), one public URL (the tokens' audience), their own state dirs and
 * ports, and `TAILOPS_STATE_URL` naming the database over its unix socket.
 *
 * Everything is stopped by PID and removed on disposal.
 *
 * @module
 */
import assert from "node:assert/strict";
import { PostgresTestbed } from "../../scripts/testbed/postgres.ts";
import { type AuthGateway, authGateway, freePort, ROLES_YAML } from "./_auth_gateway.ts";

export { POSTGRES_MISSING } from "../../scripts/testbed/postgres.ts";

/**
 * The policy the shared-state tests use: observe allowed, control needs
 * approval with separation of duties; alice and bob are operators, carol approves.
 */
export const SHARED_POLICY: string = [
  "version: 1",
  "rules:",
  "  - id: observe",
  "    tiers: [observe]",
  "  - id: control-approval",
  "    effect: approve",
  "    tiers: [control]",
  "    separation_of_duties: true",
  "identities:",
  ROLES_YAML,
  "  bindings:",
  "    - { token: alice, roles: [operator] }",
  "    - { token: bob, roles: [operator] }",
  "    - { token: carol, roles: [approver] }",
].join("\n");

/** Gateways sharing a database. */
export interface Cluster extends AsyncDisposable {
  readonly pg: PostgresTestbed;
  readonly gateways: readonly AuthGateway[];
  /** The public URL every gateway serves (tokens are minted for it); a load balancer's. */
  readonly resource: string;
  /** Its port, free for a load balancer to listen on. */
  readonly publicPort: number;
  /** The environment naming the shared state. */
  readonly env: Record<string, string>;
  /** Mints a gateway token (recorded in the shared ledger) valid on every gateway. */
  mint(sub: string, role: string): Promise<{ token: string; jti: string }>;
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true, mode: 0o700 });
  for await (const entry of Deno.readDir(from)) {
    await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    await Deno.chmod(`${to}/${entry.name}`, 0o600);
  }
}

/**
 * Starts PostgreSQL and `count` gateways on it, all at once (their schema
 * migrations race, as in a real rollout).
 *
 * @param count How many gateways.
 * @param policy The policy YAML they share.
 * @returns The cluster; `await using` stops everything.
 */
export async function cluster(count: number, policy: string): Promise<Cluster> {
  const pg = await PostgresTestbed.start();
  const publicPort = freePort();
  const resource = `http://127.0.0.1:${publicPort}/mcp`;
  const env = { TAILOPS_STATE_URL: pg.socketUrl };
  const gateways: AuthGateway[] = [];
  try {
    for (let i = 0; i < count; i++) gateways.push(await authGateway(policy, { env }));
    // One key for all: minting once creates it in the first state dir.
    const first = gateways[0];
    const made = await first.cli(["token", "rotate-key"]);
    assert.equal(made.code, 0, made.stderr);
    for (const other of gateways.slice(1)) {
      await copyDir(`${first.stateDir}/keys`, `${other.stateDir}/keys`);
    }
    await Promise.all(gateways.map((g) => g.start(["--public-url", resource])));
    // The testbed runs PostgreSQL with synchronous_commit=off (speed): a test
    // that kills it right away would lose the schema the gateways just made.
    await pg.sql("CHECKPOINT");
  } catch (error) {
    for (const g of gateways) await g[Symbol.asyncDispose]();
    await pg.stop();
    throw error;
  }
  return {
    pg,
    gateways,
    resource,
    publicPort,
    env,
    async mint(sub, role) {
      const run = await gateways[0].cli(
        ["token", "mint", "--sub", sub, "--role", role, "--ttl", "1h", "--resource", resource],
      );
      assert.equal(run.code, 0, run.stderr);
      const jti = /Minted token (\S+) /.exec(run.stderr)?.[1];
      assert.ok(jti, run.stderr);
      return { token: run.stdout.trim(), jti };
    },
    async [Symbol.asyncDispose]() {
      for (const g of gateways) await g[Symbol.asyncDispose]();
      await pg.stop();
    },
  };
}

/**
 * Polls until `check` returns a value other than `undefined`, or fails after `timeoutMs`.
 *
 * @param what What is awaited (for the failure message).
 * @param check The probe.
 * @param timeoutMs The bound (generous: the machine is shared).
 * @returns The probe's value.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Sends an MCP `initialize` over plain fetch.
 *
 * @param port The gateway's port.
 * @param token A bearer token.
 * @param session A session id to present instead of starting one.
 * @returns The response status, its session id header and body text.
 */
export async function initialize(
  port: number,
  token: string,
  session?: string,
): Promise<{ status: number; session: string | null; body: string }> {
  const headers: Record<string, string> = {
    Authorization: `Bearer ${token}`,
    "Content-Type": "application/json",
    Accept: "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
  };
  if (session) headers["mcp-session-id"] = session;
  const body = session ? { jsonrpc: "2.0", id: 2, method: "tools/list" } : {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: {
      protocolVersion: "2025-06-18",
      capabilities: {},
      clientInfo: { name: "shared-state-test", version: "0" },
    },
  };
  const response = await fetch(`http://127.0.0.1:${port}/mcp`, {
    method: "POST",
    headers,
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    session: response.headers.get("mcp-session-id"),
    body: await response.text(),
  };
}
