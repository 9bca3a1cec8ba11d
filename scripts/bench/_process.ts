/**
 * Subprocesses of the benchmark: a server started with `deno run` that logs
 * a JSON line with a `port` property on stderr once it listens, kept until
 * stopped by its PID. Stderr is drained all along (a full pipe would stall
 * the server) and its tail kept for error messages.
 *
 * @module
 */
import { GATEWAY_V8_FLAGS } from "../../src/cli/launch.ts";
import { REPO_ROOT } from "./_util.ts";

/** A server subprocess that listens on loopback. */
export interface Served {
  readonly pid: number;
  readonly port: number;
  /** The last stderr lines, for error messages. */
  logTail(): string;
  /** Stops it (SIGTERM, then SIGKILL after 3 s) and waits for it. */
  stop(): Promise<void>;
}

function portOf(line: string): number | null {
  try {
    const record = JSON.parse(line);
    const port = record?.properties?.port ?? record?.port;
    return typeof port === "number" && port > 0 ? port : null;
  } catch {
    return null;
  }
}

/**
 * Starts `deno ARGS` in the repository root and waits for its port.
 *
 * @param args Arguments after `deno`.
 * @param what A name for error messages.
 * @param timeoutMs How long to wait for the listen line.
 * @returns The running server.
 * @throws {Error} When it exits or stays silent first (stderr tail included).
 */
export async function spawnListening(
  args: readonly string[],
  what: string,
  timeoutMs = 30_000,
): Promise<Served> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...args],
    cwd: REPO_ROOT,
    // Without it `deno run` looks up dl.deno.land for its update check (DNS
    // off loopback) from every server the benchmark starts.
    env: { DENO_NO_UPDATE_CHECK: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const { promise: portSeen, resolve: resolvePort } = Promise.withResolvers<number>();
  const drained = (async () => {
    let buffer = "";
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      buffer += decoder.decode(chunk, { stream: true });
      let at: number;
      while ((at = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        lines.push(line);
        if (lines.length > 40) lines.shift();
        const port = portOf(line);
        if (port !== null) resolvePort(port);
      }
    }
  })().catch(() => {});
  const logTail = () => lines.slice(-12).join("\n");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    portSeen,
    child.status.then((s) => `exited with code ${s.code}`),
    new Promise<string>((r) =>
      timer = setTimeout(() => r(`no listen line in ${timeoutMs} ms`), timeoutMs)
    ),
  ]);
  clearTimeout(timer);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      Deno.kill(child.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    const killer = setTimeout(() => {
      try {
        Deno.kill(child.pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }, 3000);
    await child.status;
    clearTimeout(killer);
    await drained;
  };
  if (typeof outcome === "string") {
    await stop();
    throw new Error(`Cannot start ${what}: ${outcome}; its stderr:\n${logTail()}`);
  }
  return { pid: child.pid, port: outcome, logTail, stop };
}

/**
 * The runtime flags the gateway runs with (its `--v8-flags`): those
 * `tailops launch` (behind `deno task start` and `deno task stdio`) gives the
 * `deno run` it starts, so the benchmark runs the gateway as users do.
 */
export const GATEWAY_RUNTIME_FLAGS: readonly string[] = [GATEWAY_V8_FLAGS];

/** A gateway started over Streamable HTTP. */
export interface ServedGateway extends Served {
  /** `http://127.0.0.1:PORT/mcp` */
  readonly url: string;
  /** The bootstrap admin token ("" under `--no-auth`). */
  readonly token: string;
}

/**
 * Writes the shipped default policy with the observe-tier rate limit raised
 * (default 3000/min, burst 600): the limiter still runs on every call, but a
 * benchmark's thousands of calls a minute are not refused.
 *
 * With `writes`, one more rule allows `file_write` on the target `bench`
 * (the mutating call of the gateway suite), with its tier's (admin) limit
 * raised likewise.
 *
 * @param path Where to write it.
 * @param options `writes` adds the file_write rule.
 * @returns The path.
 */
export async function writeBenchPolicy(
  path: string,
  options: { writes?: boolean } = {},
): Promise<string> {
  let policy = await Deno.readTextFile(`${REPO_ROOT}/policy/default.yaml`);
  if (options.writes) {
    if (!/^rules:\n/m.test(policy)) throw new Error("policy/default.yaml has no top-level rules:");
    policy = policy.replace(
      /^rules:\n/m,
      "rules:\n  - id: bench-file-write\n    operations: [file_write]\n    targets: [bench]\n",
    );
  }
  await Deno.writeTextFile(
    path,
    `${policy.trimEnd()}
rate_limits:
  observe: { per_minute: 1000000, burst: 100000 }
${options.writes ? "  admin: { per_minute: 1000000, burst: 100000 }\n" : ""}`,
  );
  return path;
}

/**
 * Starts the real gateway over Streamable HTTP on a free loopback port, with
 * authentication, the gate and the audit log on (`--fsync batch`). Without a
 * `policy`, it uses {@linkcode writeBenchPolicy}'s (written beside the state dir).
 *
 * @param options Targets file, state dir, policy file; `extraArgs` replace
 *   `--fsync batch` (e.g. for an ablation run with `--no-auth`).
 * @returns The gateway with its URL and admin token.
 * @throws {Error} When it does not start.
 */
export async function spawnGateway(
  options: { targets: string; stateDir: string; policy?: string; extraArgs?: readonly string[] },
): Promise<ServedGateway> {
  const served = await spawnListening([
    "run",
    "-P=gateway",
    "--no-prompt",
    ...GATEWAY_RUNTIME_FLAGS,
    "main.ts",
    "serve",
    "--transport",
    "http",
    "--listen",
    "127.0.0.1:0",
    "--state-dir",
    options.stateDir,
    "--targets",
    options.targets,
    "--policy",
    options.policy ?? await writeBenchPolicy(`${options.stateDir}.policy.yaml`),
    ...(options.extraArgs ?? ["--fsync", "batch"]),
  ], "the gateway");
  const token = await Deno.readTextFile(`${options.stateDir}/admin.token`).then(
    (text) => text.trim(),
    () => "",
  );
  return { ...served, url: `http://127.0.0.1:${served.port}/mcp`, token };
}

/**
 * Starts one of the helper servers in this folder (`bare_server.ts`,
 * `json_endpoint.ts`) in its own process.
 *
 * @param script File name in scripts/bench/.
 * @param args Its arguments.
 * @returns The running server.
 */
export function spawnHelper(script: string, args: readonly string[] = []): Promise<Served> {
  return spawnListening(
    ["run", "-A", "--no-prompt", `scripts/bench/${script}`, ...args],
    script,
  );
}
