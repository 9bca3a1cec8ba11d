/**
 * A stdio gateway whose stdin the test can write raw bytes to while an SDK
 * client talks to the same process, and whose every stdout line the test can
 * read. The client runs over the gateway's own {@linkcode StdioTransport}
 * (it implements the SDK's Transport in both directions).
 *
 * @module
 */
import { StdioTransport } from "../../src/mcp/stdio_transport.ts";
import { childEnv, Client, GATEWAY_RUN, REPO_DIR, tempDirWith } from "./_gateway.ts";

/** A stdio gateway process whose stdin and stdout the test drives byte by byte. */
export interface StdioProcess extends AsyncDisposable {
  readonly pid: number;
  readonly stateDir: string;
  readonly workDir: string;
  /** Writes bytes (or text) to the gateway's stdin as they are. */
  write(data: Uint8Array | string): Promise<void>;
  /** Closes the gateway's stdin, as a client that quits does. */
  endInput(): Promise<void>;
  /** Waits for a stdout line whose JSON satisfies `match` (checks lines seen so far first). */
  waitFor(match: (message: Record<string, unknown>) => boolean, what: string): Promise<
    Record<string, unknown>
  >;
  /** Every stdout line parsed so far. */
  lines(): Record<string, unknown>[];
  /** Settles once stdout has ended and every line is in {@linkcode lines}. */
  readonly outputEnded: Promise<void>;
  stderr(): string;
  /** The process's exit status (once it exits). */
  readonly status: Promise<Deno.CommandStatus>;
}

/** A raw stdio gateway with an SDK client connected over the same pipes. */
export interface RawStdioGateway extends StdioProcess {
  readonly client: InstanceType<typeof Client>;
}

/** How to start a stdio gateway. */
export interface RawStdioOptions {
  targets?: string;
  flags?: string[];
  env?: Record<string, string | null>;
}

const WAIT_MS = 60_000;

/**
 * Spawns `main.ts serve --transport stdio` with piped stdio; the test writes
 * and reads raw lines (no client).
 *
 * @param options Targets file, extra flags and environment.
 * @returns The gateway process.
 */
export async function spawnStdio(options: RawStdioOptions = {}): Promise<StdioProcess> {
  return (await spawn(options, false)).process;
}

/**
 * Spawns `main.ts serve --transport stdio` with piped stdio and connects an
 * SDK client.
 *
 * @param options Targets file, extra flags and environment.
 * @returns The gateway.
 */
export async function startRawStdio(options: RawStdioOptions = {}): Promise<RawStdioGateway> {
  const { process, forClient } = await spawn(options, true);
  const transport = new StdioTransport(
    forClient!,
    new WritableStream({ write: (chunk) => process.write(chunk) }),
  );
  const client = new Client({ name: "tailops-raw-stdio-test", version: "0.0.0" });
  try {
    await client.connect(transport);
  } catch (error) {
    try {
      Deno.kill(process.pid, "SIGKILL");
    } catch {
      // Gone.
    }
    await process[Symbol.asyncDispose]();
    throw new Error(
      `The stdio gateway did not start: ${(error as Error).message}\n${process.stderr()}`,
    );
  }
  return {
    ...process,
    client,
    async [Symbol.asyncDispose]() {
      await client.close().catch(() => {});
      await process[Symbol.asyncDispose]();
    },
  };
}

async function spawn(
  options: RawStdioOptions,
  withClient: boolean,
): Promise<{ process: StdioProcess; forClient?: ReadableStream<Uint8Array> }> {
  const workDir = await tempDirWith();
  const stateDir = `${workDir}/state`;
  const args = [...GATEWAY_RUN, "serve", "--transport", "stdio", "--state-dir", stateDir];
  if (options.targets !== undefined) {
    await Deno.writeTextFile(`${workDir}/targets.yaml`, options.targets);
    args.push("--targets", `${workDir}/targets.yaml`);
  }
  args.push(...(options.flags ?? []));
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: REPO_DIR,
    clearEnv: true,
    env: childEnv({ USER: "tailops-test", ...options.env }),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const [forClient, forTest] = withClient ? child.stdout.tee() : [undefined, child.stdout];
  const seen: Record<string, unknown>[] = [];
  const waiters = new Set<() => void>();
  let stderr = "";
  const readingOut = (async () => {
    let pending = "";
    for await (const chunk of forTest.pipeThrough(new TextDecoderStream())) {
      pending += chunk;
      const parts = pending.split("\n");
      pending = parts.pop() ?? "";
      for (const line of parts) {
        try {
          seen.push(JSON.parse(line));
        } catch {
          seen.push({ unparsable: line });
        }
      }
      for (const wake of waiters) wake();
    }
  })().catch(() => {});
  const readingErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) stderr += chunk;
  })().catch(() => {});
  const status = child.status;
  let exited: Deno.CommandStatus | undefined;
  status.then((s) => exited = s);
  const process: StdioProcess = {
    pid: child.pid,
    stateDir,
    workDir,
    status,
    write: (data) => writer.write(typeof data === "string" ? new TextEncoder().encode(data) : data),
    endInput: () => writer.close().catch(() => {}),
    lines: () => seen,
    outputEnded: readingOut,
    stderr: () => stderr,
    async waitFor(match, what) {
      const deadline = Date.now() + WAIT_MS;
      let checked = 0;
      while (true) {
        for (; checked < seen.length; checked++) if (match(seen[checked])) return seen[checked];
        if (exited) {
          // Lines written just before the exit may still be in the pipe.
          await readingOut;
          for (; checked < seen.length; checked++) if (match(seen[checked])) return seen[checked];
          throw new Error(`The gateway exited (code ${exited.code}) before ${what}:\n${stderr}`);
        }
        if (Date.now() > deadline) {
          throw new Error(`No stdout line for ${what} within ${WAIT_MS} ms:\n${stderr}`);
        }
        let wake!: () => void;
        const woken = new Promise<void>((resolve) => wake = resolve);
        waiters.add(wake);
        const timer = setTimeout(wake, 1_000);
        await Promise.race([woken, status]);
        clearTimeout(timer);
        waiters.delete(wake);
      }
    },
    async [Symbol.asyncDispose]() {
      await writer.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          Deno.kill(child.pid, "SIGKILL");
        } catch {
          // Gone.
        }
      }, 10_000);
      await status;
      clearTimeout(timer);
      await readingOut;
      await readingErr;
      await Deno.remove(workDir, { recursive: true }).catch(() => {});
    },
  };
  return { process, forClient };
}
