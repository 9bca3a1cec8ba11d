/**
 * A gateway for identity and approval tests: a temp state dir, a `local`
 * target that may read, control services and read files, a policy written
 * per test, and a fixed loopback port chosen up front — tokens name the
 * resource URI `http://127.0.0.1:PORT/mcp`, and a restart must come back on
 * the same port and state dir.
 *
 * Processes are stopped by PID and the temp dir removed on disposal, passed
 * or failed.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type AuditLine,
  childEnv,
  Client,
  gatewayArgs,
  killAndWait,
  readAudit,
  REPO_DIR,
  runCli,
  StreamableHTTPClientTransport,
} from "./_gateway.ts";
import {
  answerElicitation,
  type CliRun,
  type ElicitAnswer,
  type Era,
  eraOptions,
} from "./_gateway.ts";

/** The registry every test uses: the gateway host with three capabilities. */
export const TARGETS_YAML = [
  "version: 1",
  "targets:",
  "  - id: local",
  "    type: local",
  "    capabilities: [system:read, system:control, file:read]",
  "    files:",
  "      roots: [/etc]",
].join("\n");

/** The roles of the identity tests, as a YAML fragment under `identities:`. */
export const ROLES_YAML = [
  "  roles:",
  "    viewer: { scopes: [system:read, file:read] }",
  "    operator: { scopes: [system:read, system:control] }",
  "    approver: { scopes: [system:read, approvals:grant] }",
  "    operator-approver: { scopes: [system:read, system:control, approvals:grant] }",
].join("\n");

const START_TIMEOUT_MS = 20_000;

/**
 * A loopback port that was free a moment ago: bind port 0, read it, close.
 *
 * @returns The port.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** A gateway process on the fixture's port. */
export interface GatewayProcess {
  readonly pid: number;
  /** Stderr so far. */
  stderr(): string;
  /** SIGTERM, then SIGKILL after 5 s; waits for exit. */
  stop(): Promise<Deno.CommandStatus>;
}

/** One test's gateway: files, state and process(es). */
export interface AuthGateway extends AsyncDisposable {
  readonly port: number;
  /** `http://127.0.0.1:PORT/mcp`: the canonical resource URI. */
  readonly url: URL;
  readonly workDir: string;
  readonly stateDir: string;
  readonly auditFile: string;
  readonly policyFile: string;
  /** The running process, if started. */
  readonly process: GatewayProcess | undefined;
  /** Starts `serve --transport http` (again, after `stop`) on the same port and state dir. */
  start(flags?: string[]): Promise<GatewayProcess>;
  /** Stops the running process, if any. */
  stop(): Promise<void>;
  /** Runs `main.ts ...args --state-dir STATE` to completion. */
  cli(args: string[]): Promise<CliRun>;
  /** Mints a gateway token for the resource URI via the CLI; returns its text and jti. */
  mint(sub: string, role: string, ttl?: string): Promise<{ token: string; jti: string }>;
  /** Audit records so far. */
  audit(): Promise<AuditLine[]>;
  /** Connects an SDK client with a bearer token and/or extra headers. */
  connect(
    options?: {
      token?: string;
      headers?: Record<string, string>;
      elicit?: ElicitAnswer;
      /** Connect through this unix socket (the Tailscale channel) instead of TCP. */
      socket?: string;
      /** The era the client speaks (default 2025). */
      era?: Era;
    },
  ): Promise<InstanceType<typeof Client>>;
}

export type { ElicitAnswer } from "./_gateway.ts";

/**
 * Creates the temp dir, targets file and policy file, and picks a port.
 * Call `start()` to run the gateway.
 *
 * @param policy Policy YAML.
 * @param options `env`: extra environment for the gateway and its CLI runs (e.g.
 * `TAILOPS_STATE_URL`); `targets`: targets YAML (default {@linkcode TARGETS_YAML}).
 * @returns The fixture; `await using` disposes of it.
 */
export async function authGateway(
  policy: string,
  options: { env?: Record<string, string>; targets?: string } = {},
): Promise<AuthGateway> {
  const workDir = await Deno.makeTempDir({ prefix: "tailops-auth-it-" });
  const stateDir = `${workDir}/state`;
  const targetsFile = `${workDir}/targets.yaml`;
  const policyFile = `${workDir}/policy.yaml`;
  await Deno.writeTextFile(targetsFile, options.targets ?? TARGETS_YAML);
  await Deno.writeTextFile(policyFile, policy);
  const port = freePort();
  const url = new URL(`http://127.0.0.1:${port}/mcp`);
  let current: GatewayProcess | undefined;
  const clients: InstanceType<typeof Client>[] = [];

  const fixture: AuthGateway = {
    port,
    url,
    workDir,
    stateDir,
    auditFile: `${stateDir}/audit.jsonl`,
    policyFile,
    get process() {
      return current;
    },
    async start(flags = []) {
      assert.equal(current, undefined, "stop the running gateway first");
      current = await spawnGateway([
        "serve",
        "--transport",
        "http",
        "--listen",
        `127.0.0.1:${port}`,
        "--state-dir",
        stateDir,
        "--targets",
        targetsFile,
        "--policy",
        policyFile,
        ...flags,
      ], { env: options.env });
      return current;
    },
    async stop() {
      const running = current;
      current = undefined;
      await running?.stop();
    },
    cli: (args) => runCli([...args, "--state-dir", stateDir], { env: options.env }),
    async mint(sub, role, ttl = "1h") {
      const run = await fixture.cli([
        "token",
        "mint",
        "--sub",
        sub,
        "--role",
        role,
        "--ttl",
        ttl,
        "--resource",
        url.href,
      ]);
      assert.equal(run.code, 0, run.stderr);
      const jti = /Minted token (\S+) /.exec(run.stderr)?.[1];
      assert.ok(jti, run.stderr);
      return { token: run.stdout.trim(), jti };
    },
    audit: () => readAudit(`${stateDir}/audit.jsonl`),
    async connect(options = {}) {
      const client = new Client(
        { name: "tailops-auth-test", version: "0.0.0" },
        {
          ...eraOptions(options.era),
          ...(options.elicit ? { capabilities: { elicitation: {} } } : {}),
        },
      );
      if (options.elicit) answerElicitation(client, options.elicit);
      const headers: Record<string, string> = { ...options.headers };
      if (options.token) headers.Authorization = `Bearer ${options.token}`;
      const unix = options.socket
        ? Deno.createHttpClient({ proxy: { transport: "unix", path: options.socket } })
        : undefined;
      await client.connect(
        new StreamableHTTPClientTransport(url, {
          requestInit: { headers },
          ...(unix ? { fetch: (input, init) => fetch(input, { ...init, client: unix }) } : {}),
        }),
      );
      clients.push(client);
      return client;
    },
    async [Symbol.asyncDispose]() {
      for (const client of clients) await client.close().catch(() => {});
      await fixture.stop();
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    },
  };
  return fixture;
}

/**
 * Spawns `main.ts ...args` as `deno task start` does (see {@linkcode gatewayArgs}) and waits for the
 * `Listening on` JSON log line on stderr.
 *
 * @param args Arguments after `main.ts`.
 * @param options `env`: extra environment variables.
 * @returns The process.
 * @throws {Error} When it exits or does not listen in time (its stderr is in the message).
 */
export async function spawnGateway(
  args: string[],
  options: { env?: Record<string, string> } = {},
): Promise<GatewayProcess> {
  const env = childEnv(options.env);
  const child = new Deno.Command(Deno.execPath(), {
    args: await gatewayArgs(args, env),
    cwd: REPO_DIR,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let onListen!: () => void;
  const listening = new Promise<void>((resolve) => (onListen = resolve));
  const reading = (async () => {
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          if (String(JSON.parse(line).message).startsWith("Listening on")) onListen();
        } catch {
          // Not a log record.
        }
      }
    }
  })().catch(() => {});
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      const status = await killAndWait(child);
      await reading;
      return status;
    })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      listening,
      child.status.then((status) => {
        throw new Error(`The gateway exited with code ${status.code} before listening:\n${stderr}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(new Error(`The gateway did not listen in ${START_TIMEOUT_MS} ms:\n${stderr}`)),
          START_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (error) {
    await stop();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { pid: child.pid, stderr: () => stderr, stop };
}

/**
 * Waits until the audit log holds a record matching `predicate`, polling.
 *
 * @param file The audit log.
 * @param predicate What to wait for.
 * @param timeoutMs How long at most.
 * @returns The first matching record.
 * @throws {AssertionError} When none appears in time.
 */
export async function waitForAudit(
  file: string,
  predicate: (line: AuditLine) => boolean,
  timeoutMs = 6_000,
): Promise<AuditLine> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const found = (await readAudit(file)).find(predicate);
    if (found) return found;
    if (Date.now() > deadline) {
      assert.fail(`No matching audit record within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * A raw `initialize` POST, as a client sends its first request.
 *
 * @param url The gateway's `/mcp` URL.
 * @param headers Extra headers (a bearer token, Tailscale headers…).
 * @param init `client`: the HTTP client to send with (e.g. one for the Tailscale socket).
 * @returns The response; the caller reads or cancels its body.
 */
export function postInitialize(
  url: URL,
  headers: Record<string, string> = {},
  init: { client?: Deno.HttpClient } = {},
): Promise<Response> {
  return fetch(url, {
    ...init,
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json, text/event-stream",
      ...headers,
    },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: {
        protocolVersion: "2025-06-18",
        capabilities: {},
        clientInfo: { name: "raw", version: "0" },
      },
    }),
  });
}
