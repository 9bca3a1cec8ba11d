/**
 * Spawns the real gateway as users run it (`deno run -P=gateway --no-prompt
 * main.ts ...`) for integration tests, and the official SDK client pieces
 * with their real types.
 *
 * Every process started here is stopped by PID when the test disposes of it,
 * whether the test passed or not; temporary state directories are removed.
 *
 * @module
 */
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { StdioClientTransport as SdkStdioClientTransport } from "@modelcontextprotocol/client/stdio";

import { launchArgs } from "../../src/cli/launch.ts";
import { CliError } from "../../src/cli/errors.ts";

export { Client, StreamableHTTPClientTransport };
export type { CallToolResult, Tool } from "@modelcontextprotocol/client";

/**
 * The SDK's stdio client transport, probing the protocol era on the process
 * it spawned. (The SDK's own class runs a 2026-07-28 probe in a second,
 * short-lived copy of the server; a subclass is probed in place, so each
 * test starts one gateway.)
 */
export class StdioClientTransport extends SdkStdioClientTransport {}

/**
 * The MCP protocol era a test client speaks: `2025` opens a session with
 * `initialize` (2025-11-25), `2026` sends stateless 2026-07-28 requests.
 */
export type Era = "2025" | "2026";

/** How a test client answers elicitation requests; `undefined` declares no capability. */
export type ElicitAnswer = "accept" | "decline";

/**
 * Makes a client answer every elicitation request (2025 era) and, through
 * the same handler, the questions of 2026-07-28 input-required results.
 * Declare `capabilities: { elicitation: {} }` on the client too.
 *
 * @param client The client.
 * @param answer Accept (with `confirm: true`) or decline.
 */
export function answerElicitation(client: InstanceType<typeof Client>, answer: ElicitAnswer): void {
  client.setRequestHandler(
    "elicitation/create",
    () =>
      answer === "accept"
        ? { action: "accept" as const, content: { confirm: true } }
        : { action: "decline" as const },
  );
}

/** Every era, for tests that run once per era. */
export const ERAS: readonly Era[] = ["2025", "2026"];

/**
 * The client options that make the v2 client speak an era.
 *
 * @param era The era (default 2025).
 * @returns Options for `new Client(info, options)`.
 */
export function eraOptions(
  era: Era = "2025",
): { versionNegotiation: { mode: "legacy" | { pin: "2026-07-28" } } } {
  return { versionNegotiation: { mode: era === "2026" ? { pin: "2026-07-28" } : "legacy" } };
}

/** The repository root: every command runs from here, as `deno task` does. */
export const REPO_DIR: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** The `deno run` prefix for the CLI's other commands (the `gateway` permission set from deno.json). */
export const GATEWAY_RUN: readonly string[] = ["run", "-P=gateway", "--no-prompt", "main.ts"];

/** Variables the permission set is derived from (serve flags' fallbacks, default state dir). */
const LAUNCH_ENV = /^(TAILOPS_.*|HOME|XDG_STATE_HOME)$/;

/**
 * The `deno` arguments that run `main.ts ...args` as `deno task start` does:
 * `serve` under exactly the permission set `tailops launch` derives from its
 * configuration (computed here, in-process, with the child's environment),
 * other commands under `-P=gateway`. A configuration the launcher refuses is
 * run under `-P=gateway` too, so the gateway reports the problem itself.
 *
 * @param args Arguments after `main.ts`.
 * @param env The child's environment.
 * @returns The arguments after `deno`.
 */
export async function gatewayArgs(
  args: readonly string[],
  env: Record<string, string>,
): Promise<string[]> {
  if (args[0] !== "serve") return [...GATEWAY_RUN, ...args];
  // launchArgs() reads the serve flags' environment fallbacks synchronously,
  // before its first await: swap the child's values in just for that part.
  const saved = Object.entries(Deno.env.toObject()).filter(([k]) => LAUNCH_ENV.test(k));
  for (const [key] of saved) Deno.env.delete(key);
  for (const [key, value] of Object.entries(env)) {
    if (LAUNCH_ENV.test(key)) Deno.env.set(key, value);
  }
  let computed: Promise<string[]>;
  try {
    computed = launchArgs(args.slice(1));
  } finally {
    for (const key of Object.keys(Deno.env.toObject())) {
      if (LAUNCH_ENV.test(key)) Deno.env.delete(key);
    }
    for (const [key, value] of saved) Deno.env.set(key, value);
  }
  try {
    return await computed;
  } catch (error) {
    if (error instanceof CliError) return [...GATEWAY_RUN, ...args];
    throw error;
  }
}

/**
 * The environment for child processes: ours without any `TAILOPS_*` variable,
 * so a developer's own settings never leak into a test, plus `extra`; a
 * variable given as `null` is removed.
 *
 * @param extra Variables to set (or remove, with `null`).
 * @returns The environment.
 */
export function childEnv(extra: Record<string, string | null> = {}): Record<string, string> {
  const env: Record<string, string | null> = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([key]) => !key.startsWith("TAILOPS_")),
  );
  // DENO_NO_UPDATE_CHECK: `deno run` would look up dl.deno.land (DNS off loopback).
  Object.assign(env, { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" }, extra);
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== null),
  );
}

/** What a finished CLI run printed. */
export interface CliRun {
  code: number;
  stdout: string;
  /** Everything on stderr. */
  stderr: string;
  /** Stderr without Deno's own notes about the permission set (experimental config, unresolved programs). */
  ownStderr: string[];
}

/**
 * Lines on stderr that the gateway wrote, without Deno's own warnings.
 *
 * @param stderr Raw stderr.
 * @returns The gateway's lines.
 */
export function gatewayLines(stderr: string): string[] {
  return stderr
    .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, "g"), "")
    .split("\n")
    .filter((line) => line.trim() !== "" && !/^(Warning|Info) /.test(line));
}

/**
 * Runs `deno run -P=gateway --no-prompt main.ts ...args` to completion.
 *
 * @param args CLI arguments after `main.ts`.
 * @param options Extra environment and stdin.
 * @returns Exit code and output.
 */
export async function runCli(
  args: string[],
  options: { env?: Record<string, string | null>; timeoutMs?: number } = {},
): Promise<CliRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...GATEWAY_RUN, ...args],
    cwd: REPO_DIR,
    clearEnv: true,
    env: childEnv(options.env),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }, options.timeoutMs ?? 30_000);
  try {
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr,
      ownStderr: gatewayLines(stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Options for {@linkcode startGateway}. */
export interface StartOptions {
  /** Targets file content (YAML); written to a temp file and passed as `--targets`. */
  targets?: string;
  /** Policy file content (YAML); written to a temp file and passed as `--policy`. */
  policy?: string;
  /** `--listen` value (default `127.0.0.1:0`). */
  listen?: string;
  /** More `serve` flags. */
  flags?: string[];
  /** Extra environment variables (`null` removes one). */
  env?: Record<string, string | null>;
  /** A program that runs the gateway, e.g. `["prlimit", "--nofile=256:256"]` (it must exec). */
  prefix?: string[];
  /** An existing state directory to run on (a restart); it is not removed on dispose. */
  stateDir?: string;
  /** The era the stdio client speaks (default 2025; HTTP clients choose in `connectHttp`). */
  era?: Era;
  /** How the stdio client answers elicitation (default: it declares none). */
  elicit?: ElicitAnswer;
}

/** A running gateway over HTTP. */
export interface RunningGateway extends AsyncDisposable {
  /** Its PID. */
  readonly pid: number;
  /** The port it listens on (read from its `Listening on` log line). */
  readonly port: number;
  /** `http://127.0.0.1:PORT/mcp`. */
  readonly url: URL;
  /** The admin token from STATE/admin.token, unless running with `--no-auth`. */
  readonly token: string | undefined;
  /** The temporary state directory. */
  readonly stateDir: string;
  /** A temp directory for the test's own files (targets, roots); removed on dispose. */
  readonly workDir: string;
  /** `STATE/audit.jsonl`. */
  readonly auditFile: string;
  /** Stderr so far. */
  stderr(): string;
  /** Stops the process (SIGTERM, then SIGKILL) and waits for it; keeps the directories. */
  stop(): Promise<Deno.CommandStatus>;
}

const START_TIMEOUT_MS = 20_000;

/**
 * Makes a temporary directory for a test and writes the given files into it.
 *
 * @param files Name → content.
 * @returns The directory.
 */
export async function tempDirWith(files: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "tailops-it-" });
  for (const [name, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}`, text);
  }
  return dir;
}

/**
 * Stops a gateway process: SIGTERM, then SIGKILL after 5 s.
 *
 * @param child The process.
 * @returns Its exit status.
 */
export async function killAndWait(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  try {
    Deno.kill(child.pid, "SIGTERM");
  } catch {
    // Already exited.
  }
  // A gateway that ignores SIGTERM for 5 s is killed outright.
  const timer = setTimeout(() => {
    try {
      Deno.kill(child.pid, "SIGKILL");
    } catch {
      // Already exited.
    }
  }, 5_000);
  try {
    return await child.status;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spawns `deno run -P=gateway --no-prompt main.ts serve --transport http
 * --listen 127.0.0.1:0 --state-dir TEMP [--targets F] [--policy F] ...` and
 * waits for its `Listening on` log line.
 *
 * Use with `await using gateway = await startGateway()`: disposal stops the
 * process by PID and removes its temp directories.
 *
 * @param options Config files, flags and environment.
 * @returns The running gateway.
 * @throws {Error} When it exits or does not listen within 20 s (its stderr is in the message).
 */
export async function startGateway(options: StartOptions = {}): Promise<RunningGateway> {
  const workDir = await tempDirWith();
  const stateDir = options.stateDir ?? `${workDir}/state`;
  const args = [
    "serve",
    "--transport",
    "http",
    "--listen",
    options.listen ?? "127.0.0.1:0",
    "--state-dir",
    stateDir,
  ];
  if (options.targets !== undefined) {
    await Deno.writeTextFile(`${workDir}/targets.yaml`, options.targets);
    args.push("--targets", `${workDir}/targets.yaml`);
  }
  if (options.policy !== undefined) {
    await Deno.writeTextFile(`${workDir}/policy.yaml`, options.policy);
    args.push("--policy", `${workDir}/policy.yaml`);
  }
  args.push(...(options.flags ?? []));
  const env = childEnv(options.env);
  const [program, ...before] = options.prefix ?? [Deno.execPath()];
  if (options.prefix) before.push(Deno.execPath());
  const child = new Deno.Command(program, {
    args: [...before, ...(await gatewayArgs(args, env))],
    cwd: REPO_DIR,
    clearEnv: true,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();

  let stderr = "";
  let stopped: Promise<Deno.CommandStatus> | undefined;
  const stop = () => (stopped ??= killAndWait(child));
  const cleanup = async () => {
    await stop();
    await reading;
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  };

  let onListen!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (onListen = resolve));
  const reading = (async () => {
    const decoder = new TextDecoderStream();
    let pending = "";
    for await (const chunk of child.stderr.pipeThrough(decoder)) {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          const record = JSON.parse(line);
          if (String(record.message).startsWith("Listening on")) {
            onListen(Number(record.properties.port));
          }
        } catch {
          // Not a log record.
        }
      }
    }
  })().catch(() => {});

  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const port = await Promise.race([
      listening,
      child.status.then((status) => {
        throw new Error(`The gateway exited with code ${status.code} before listening:\n${stderr}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`The gateway did not listen within ${START_TIMEOUT_MS} ms:\n${stderr}`),
            ),
          START_TIMEOUT_MS,
        );
      }),
    ]);
    clearTimeout(timer);
    const noAuth = options.flags?.includes("--no-auth") ?? false;
    const token = noAuth ? undefined : (await Deno.readTextFile(`${stateDir}/admin.token`)).trim();
    return {
      pid: child.pid,
      port,
      url: new URL(`http://127.0.0.1:${port}/mcp`),
      token,
      stateDir,
      workDir,
      auditFile: `${stateDir}/audit.jsonl`,
      stderr: () => stderr,
      stop,
      [Symbol.asyncDispose]: cleanup,
    };
  } catch (error) {
    clearTimeout(timer);
    await cleanup();
    throw error;
  }
}

/** One record of the audit log, as the tests read it. */
export interface AuditLine {
  seq: number;
  event: string;
  identity?: string;
  tool?: string;
  target?: string;
  call?: string;
  status?: string;
  reason?: string;
  decision?: string;
  detail?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * Reads an audit log's records.
 *
 * @param file The JSONL file.
 * @returns Its records.
 */
export async function readAudit(file: string): Promise<AuditLine[]> {
  const text = await Deno.readTextFile(file);
  return text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
}

/** A gateway over stdio, spawned by the SDK's stdio client transport. */
export interface StdioGateway extends AsyncDisposable {
  /** A connected client. */
  readonly client: InstanceType<typeof Client>;
  /** The gateway's PID. */
  readonly pid: number;
  /** The temporary state directory. */
  readonly stateDir: string;
  /** `STATE/audit.jsonl`. */
  readonly auditFile: string;
  /** Stderr so far. */
  stderr(): string;
  /** Closes the client (ending the gateway's stdin) and makes sure the process is gone. */
  stop(): Promise<void>;
}

function isOurGateway(pid: number): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("main.ts");
  } catch {
    return false;
  }
}

/**
 * Spawns `deno run -P=gateway --no-prompt main.ts serve --transport stdio
 * --state-dir TEMP` through the SDK's {@linkcode StdioClientTransport} and
 * connects a client. Disposal closes the client, kills the PID if it is
 * still there, and removes the temp directory.
 *
 * @param options Config files, flags and environment (`listen` is ignored).
 * @returns The gateway and its client.
 */
export async function startStdioGateway(options: StartOptions = {}): Promise<StdioGateway> {
  const workDir = await tempDirWith();
  const stateDir = options.stateDir ?? `${workDir}/state`;
  const args = ["serve", "--transport", "stdio", "--state-dir", stateDir];
  if (options.targets !== undefined) {
    await Deno.writeTextFile(`${workDir}/targets.yaml`, options.targets);
    args.push("--targets", `${workDir}/targets.yaml`);
  }
  if (options.policy !== undefined) {
    await Deno.writeTextFile(`${workDir}/policy.yaml`, options.policy);
    args.push("--policy", `${workDir}/policy.yaml`);
  }
  args.push(...(options.flags ?? []));
  const env = childEnv(options.env);
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: await gatewayArgs(args, env),
    cwd: REPO_DIR,
    env,
    stderr: "pipe",
  });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Uint8Array | string) => {
    stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  });
  const client = new Client({ name: "tailops-stdio-test", version: "0.0.0" }, {
    ...eraOptions(options.era),
    ...(options.elicit ? { capabilities: { elicitation: {} } } : {}),
  });
  if (options.elicit) answerElicitation(client, options.elicit);
  let pid: number | null = null;
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        await client.close();
      } finally {
        if (pid !== null && isOurGateway(pid)) {
          try {
            Deno.kill(pid, "SIGKILL");
          } catch {
            // Exited meanwhile.
          }
        }
      }
    })();
  const cleanup = async () => {
    await stop().catch(() => {});
    await Deno.remove(workDir, { recursive: true }).catch(() => {});
  };
  try {
    await client.connect(transport);
    pid = transport.pid;
  } catch (error) {
    pid = transport.pid;
    await cleanup();
    throw new Error(`The stdio gateway did not start: ${(error as Error).message}\n${stderr}`);
  }
  return {
    client,
    pid: pid!,
    stateDir,
    auditFile: `${stateDir}/audit.jsonl`,
    stderr: () => stderr,
    stop,
    [Symbol.asyncDispose]: cleanup,
  };
}

/**
 * Connects an SDK client to a running HTTP gateway.
 *
 * @param gateway The gateway.
 * @param token Bearer token (default: the gateway's admin token).
 * @param options The era the client speaks (default 2025) and how it answers elicitation.
 * @returns The connected client.
 */
export async function connectHttp(
  gateway: RunningGateway,
  token: string | undefined = gateway.token,
  options: { era?: Era; elicit?: ElicitAnswer } = {},
): Promise<InstanceType<typeof Client>> {
  const client = new Client({ name: "tailops-http-test", version: "0.0.0" }, {
    ...eraOptions(options.era),
    ...(options.elicit ? { capabilities: { elicitation: {} } } : {}),
  });
  if (options.elicit) answerElicitation(client, options.elicit);
  const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
  await client.connect(
    new StreamableHTTPClientTransport(gateway.url, { requestInit: { headers } }),
  );
  return client;
}
