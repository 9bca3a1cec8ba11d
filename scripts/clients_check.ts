/**
 * Checks the README's client set-ups against a real gateway: the MCP
 * Inspector's CLI (as in README, Clients) over Streamable HTTP with a viewer
 * token, and `mcp-remote` (Claude Desktop's bridge from stdio to a remote
 * gateway) driven by the SDK's stdio client the way Claude Desktop spawns it.
 *
 *   deno run -A scripts/clients_check.ts [--verbose] [--cached-only]
 *
 * Both tools come from npm at pinned versions and run under Deno's npm
 * support (the Inspector needs Node 22+; this also works where only Deno is
 * installed). The first run downloads them (scripts/test.sh does it before
 * the suite); with `--cached-only` nothing is downloaded, which is how the
 * loopback-only suite runs it (tests/integration/clients_check_test.ts).
 * Prints one line per check and exits 1 if any failed. The tools run without this repository's deno.json and lock, which
 * pin only the gateway's own dependencies.
 *
 * @module
 */
import {
  Client,
  runCli,
  startGateway,
  StdioClientTransport,
} from "../tests/integration/_gateway.ts";
import { viewerMintArgs } from "../tests/deploy/_viewer.ts";
import { startTsidp, TSIDP_USER } from "../tests/auth/_tsidp.ts";

/** `--verbose`: show mcp-remote's own log (it logs every message). */
const VERBOSE = Deno.args.includes("--verbose");
/** `--cached-only`: run the tools from Deno's cache only, never download. */
const OFFLINE = Deno.args.includes("--cached-only") ? ["--cached-only"] : [];
const INSPECTOR = "npm:@modelcontextprotocol/inspector@2.12.0";
const MCP_REMOTE = "npm:mcp-remote@0.15.1";

/**
 * A client connected through mcp-remote as Claude Desktop starts it.
 *
 * @param args mcp-remote's arguments (the URL, then flags such as `--header`).
 * @param env Its environment on top of ours (HOME at least).
 * @returns The connected client.
 */
async function viaMcpRemote(args: string[], env: Record<string, string>): Promise<Client> {
  const client = new Client({ name: "clients-check", version: "0.0.0" });
  await client.connect(
    new StdioClientTransport({
      command: Deno.execPath(),
      args: ["run", "-A", "--quiet", "--no-config", "--no-lock", ...OFFLINE, MCP_REMOTE, ...args],
      env: { ...Deno.env.toObject(), DENO_DIR, NO_COLOR: "1", ...env },
      stderr: VERBOSE ? "inherit" : "ignore",
    }),
  );
  return client;
}

/**
 * Calls system_status on the local target and fails unless it is ok.
 *
 * @param client The client.
 */
async function expectSystemStatus(client: Client): Promise<void> {
  const result = await client.callTool({ name: "system_status", arguments: { target: "local" } });
  const status = (result.structuredContent as { results?: { status: string }[] })
    ?.results?.[0]?.status;
  if (status !== "ok") throw new Error(`status ${status}`);
}

interface Check {
  name: string;
  run(): Promise<string>;
}

/** Deno's cache, kept when HOME moves so the tools are downloaded once. */
const DENO_DIR = Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`;

async function npmTool(pkg: string, args: string[], home: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--quiet", "--no-config", "--no-lock", ...OFFLINE, pkg, ...args],
    env: { ...Deno.env.toObject(), HOME: home, DENO_DIR, NO_COLOR: "1" },
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `exit ${out.code}: ${text.decode(out.stderr).trim().split("\n").slice(-3).join(" | ")}`,
    );
  }
  return text.decode(out.stdout);
}

async function main(): Promise<number> {
  await using gateway = await startGateway();
  const home = await Deno.makeTempDir({ prefix: "tailops-clients-" });
  try {
    const mint = await runCli([
      ...viewerMintArgs(gateway.url.href),
      "--state-dir",
      gateway.stateDir,
    ]);
    if (mint.code !== 0) throw new Error(`token mint failed: ${mint.stderr}`);
    const token = mint.stdout.trim().split("\n").at(-1)!;
    const url = gateway.url.href;
    const inspector = (args: string[]) =>
      npmTool(INSPECTOR, [
        "--cli",
        url,
        "--transport",
        "http",
        "--header",
        `Authorization: Bearer ${token}`,
        ...args,
      ], home);

    const checks: Check[] = [
      {
        name: `Inspector CLI (${INSPECTOR}) tools/list over HTTP with a viewer token`,
        async run() {
          const out = await inspector(["--method", "tools/list"]);
          const names = (JSON.parse(out).tools as { name: string }[]).map((t) => t.name);
          if (!names.includes("system_status")) throw new Error(`no system_status in ${names}`);
          if (names.includes("service_control")) throw new Error("a viewer sees service_control");
          return `${names.length} tools, no control tools`;
        },
      },
      {
        name: `Inspector CLI (${INSPECTOR}) tools/call system_status`,
        async run() {
          const out = await inspector([
            "--method",
            "tools/call",
            "--tool-name",
            "system_status",
            "--tool-arg",
            "target=local",
          ]);
          const status = JSON.parse(out).structuredContent?.results?.[0]?.status;
          if (status !== "ok") throw new Error(`status ${status}: ${out.slice(0, 300)}`);
          return "target local: ok";
        },
      },
      {
        name: `mcp-remote (${MCP_REMOTE}) as Claude Desktop starts it, with --header`,
        async run() {
          const client = await viaMcpRemote([url, "--header", `Authorization:Bearer ${token}`], {
            HOME: home,
          });
          try {
            await expectSystemStatus(client);
            return "system_status through the bridge: ok";
          } finally {
            await client.close();
          }
        },
      },
    ];

    checks.push({
      name: `mcp-remote (${MCP_REMOTE}) without a token, signing in through a tsidp-shaped issuer`,
      run: () => mcpRemoteOAuth(home),
    });

    let failed = 0;
    for (const check of checks) {
      try {
        console.log(`ok    ${check.name}: ${await check.run()}`);
      } catch (error) {
        failed++;
        console.log(`FAIL  ${check.name}: ${(error as Error).message}`);
      }
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await Deno.remove(home, { recursive: true }).catch(() => {});
  }
}

/**
 * mcp-remote given only the URL, as an OAuth-only client: a gateway whose
 * authorization server is the tsidp-shaped test issuer, and a "browser" that
 * follows the authorization redirect back to mcp-remote's callback (the
 * issuer signs in its one tailnet user, as tsidp does from WhoIs).
 */
async function mcpRemoteOAuth(home: string): Promise<string> {
  await using tsidp = await startTsidp({ allowDcr: true, resources: [] });
  const introspector = tsidp.addClient();
  const secretFile = `${home}/tsidp.secret`;
  await Deno.writeTextFile(secretFile, introspector.secret, { mode: 0o600 });
  await using gateway = await startGateway({
    policy: [
      "version: 1",
      "rules:",
      "  - { id: observe, effect: allow, tiers: [observe], targets: ['*'] }",
      "identities:",
      "  roles:",
      "    viewer: { scopes: [system:read] }",
      "  bindings:",
      `    - { oidc_email: ${TSIDP_USER.login}, issuer: "${tsidp.issuer}", roles: [viewer] }`,
      "auth:",
      "  oidc:",
      `    - issuer: "${tsidp.issuer}"`,
      "      algorithms: [RS256]",
      "      scopes: [openid, email]",
      "      claims: { email: username }",
      "      introspection:",
      "        token_format: tsidp",
      `        client_id: ${introspector.id}`,
      `        client_secret: "file:${secretFile}"`,
    ].join("\n"),
  });
  tsidp.grant.resources.push(gateway.url.href);
  // The browser: xdg-open (open's own or the system's) runs $BROWSER with the URL.
  const bin = `${home}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const browser = `${bin}/xdg-open`;
  await Deno.writeTextFile(browser, '#!/bin/sh\nexec curl -fsSL -o /dev/null "$1"\n', {
    mode: 0o755,
  });
  const client = await viaMcpRemote([gateway.url.href], {
    HOME: home,
    BROWSER: browser,
    PATH: `${bin}:${Deno.env.get("PATH")}`,
  });
  try {
    await expectSystemStatus(client);
    if ((tsidp.hits.get("/register") ?? 0) === 0) throw new Error("it did not register");
    return "registered, signed in, system_status: ok";
  } finally {
    await client.close();
  }
}

if (import.meta.main) Deno.exit(await main());
