/**
 * Running one remote command line on a pooled connection: exactly one exec
 * request (no env, no pty), output kept up to a cap per stream while the rest
 * is drained and counted, exit code or signal reported. Stopping (timeout,
 * cancel) sends `KILL` on the channel and closes it; a timeout also retires
 * the connection from the pool.
 *
 * @module
 */
// @ts-types="@types/ssh2"
import type { Client, ClientChannel } from "ssh2";
import { SshError } from "./_ssh_errors.ts";
import type { ConnectionPool } from "./_ssh_pool.ts";

/** What one remote command produced. */
export interface RawRun {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  /** Whether either stream was cut at the cap. */
  readonly truncated: boolean;
  /** Bytes written on both streams before the cap. */
  readonly bytes: number;
}

/** Keeps the first `cap` bytes of a stream and counts the rest. */
class Capture {
  readonly #cap: number;
  readonly #chunks: Uint8Array[] = [];
  kept = 0;
  total = 0;

  constructor(cap: number) {
    this.#cap = cap;
  }

  /** Takes a chunk; returns the part kept (empty once the cap is reached). */
  push(chunk: Uint8Array): Uint8Array {
    this.total += chunk.length;
    const room = this.#cap - this.kept;
    if (room <= 0) return new Uint8Array(0);
    // Copy: ssh2 chunks may be views into larger buffers we must not retain.
    const part = chunk.slice(0, Math.min(room, chunk.length));
    this.#chunks.push(new Uint8Array(part));
    this.kept += part.length;
    return part;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.kept);
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.length;
    }
    return out;
  }
}

/** An exec channel and its exit status, recorded from the moment it opened. */
interface ExecChannel {
  readonly channel: ClientChannel;
  exit?: { code: number | null; signal: string | null };
  once(event: "close", listener: () => void): unknown;
  close(): void;
}

function execOpen(client: Client, command: string): Promise<ExecChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (error, channel) => {
        if (error) return reject(error);
        // ssh2 parses the rest of a read synchronously: a fast command's exit
        // status may arrive before the promise continuation runs, so listen now.
        const opened: ExecChannel = {
          channel,
          once: (event, listener) => channel.once(event, listener),
          close: () => channel.close(),
        };
        channel.on("exit", (code: number | null, name?: string) => {
          opened.exit = {
            code: code ?? null,
            signal: code === null || code === undefined ? name ?? null : null,
          };
        });
        resolve(opened);
      });
    } catch (error) {
      reject(error);
    }
  });
}

/**
 * Runs one command line on the pool's connection.
 *
 * @param pool The target's pool.
 * @param command The remote command line (built from constants and `quoteArgv` only).
 * @param options `capBytes` per stream; `signal` stops it, its reason (an {@linkcode SshError}) is thrown; `stdin` is sent to the command, then end of input (without it, the command's input ends at once); `onOutput` hears each kept piece of either stream as it arrives.
 * @returns The exit status and captured output.
 * @throws {SshError} `unreachable` when the connection is lost mid-command, or the signal's reason.
 */
export async function runCommand(
  pool: ConnectionPool,
  command: string,
  options: {
    capBytes: number;
    signal: AbortSignal;
    address: string;
    stdin?: Uint8Array;
    onOutput?: (stream: "stdout" | "stderr", bytes: Uint8Array) => void;
  },
): Promise<RawRun> {
  const { signal } = options;
  let client: Client | undefined;
  const opened = await pool.open((c) => execOpen(client = c, command), signal);
  const { channel } = opened;
  return await new Promise<RawRun>((resolve, reject) => {
    const stdout = new Capture(options.capBytes);
    const stderr = new Capture(options.capBytes);
    let settled = false;
    const finish = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      if (error !== undefined) return reject(error);
      const exit = opened.exit;
      if (!exit) {
        return reject(
          new SshError(
            "unreachable",
            `The connection to ${options.address} was lost while the command ran`,
          ),
        );
      }
      resolve({
        exitCode: exit.code,
        signal: exit.signal,
        stdout: stdout.bytes(),
        stderr: stderr.bytes(),
        truncated: stdout.total > stdout.kept || stderr.total > stderr.kept,
        bytes: stdout.total + stderr.total,
      });
    };
    const onAbort = () => {
      // A call that ran out of time may be waiting on a server that stopped
      // answering: no new work goes to this connection (a cancel says nothing).
      if (client && (signal.reason as SshError | undefined)?.code === "timeout") {
        pool.retire(client, "a call on it timed out");
      }
      try {
        channel.signal("KILL");
      } catch {
        // The channel is already closing; close() below is what counts.
      }
      channel.close();
      // Do not wait for a server that stopped answering.
      finish(signal.reason);
    };
    const onOutput = options.onOutput;
    channel.on("data", (chunk: Uint8Array) => {
      const kept = stdout.push(chunk);
      if (onOutput && kept.length > 0) onOutput("stdout", kept);
    });
    channel.stderr.on("data", (chunk: Uint8Array) => {
      const kept = stderr.push(chunk);
      if (onOutput && kept.length > 0) onOutput("stderr", kept);
    });
    channel.once("close", () => finish());
    // Data for the remote command (a file write's content), then end of
    // input; with no data, end of input at once: a program that reads its
    // input (openssl s_client, cat) must not wait on a stdin nobody writes.
    if (options.stdin) channel.end(options.stdin);
    else channel.end();
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
}
