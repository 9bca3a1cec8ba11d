/**
 * The raw SSH baseline: ssh2 clients with Nagle off, pooled, each exec one
 * channel and nothing else — the floor any SSH-backed gateway sits on.
 *
 * @module
 */
import { createHash } from "node:crypto";
// @ts-types="@types/ssh2"
import { Client } from "ssh2";

/** Where and as whom to connect. */
export interface RawTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly privateKey: string;
  /** Trusted host key fingerprints (`SHA256:...`). */
  readonly fingerprints: readonly string[];
}

/**
 * Opens one authenticated connection with `setNoDelay(true)`.
 *
 * @param target Address, user, key and trusted host keys.
 * @returns A ready client.
 * @throws {Error} When the handshake or authentication fails.
 */
export function rawConnect(target: RawTarget): Promise<Client> {
  const trusted = new Set(target.fingerprints.map((f) => f.replace(/=+$/, "")));
  return new Promise((resolve, reject) => {
    const client = new Client();
    client.once("ready", () => resolve(client));
    client.once("error", (error: Error) => {
      client.on("error", () => {});
      reject(error);
    });
    client.connect({
      host: target.host,
      port: target.port,
      username: target.user,
      privateKey: target.privateKey,
      readyTimeout: 15_000,
      hostVerifier: (key: Uint8Array) =>
        trusted.has(
          `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`,
        ),
    });
    client.setNoDelay(true);
  });
}

/**
 * Runs one command on one new channel and waits for it to close.
 *
 * @param client A ready client.
 * @param command The remote command line.
 * @throws {Error} When the channel cannot open or the command exits non-zero.
 */
export function rawExec(client: Client, command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, channel) => {
      if (error) return reject(error);
      let code: number | null = null;
      // Listen now: a fast command's exit may be parsed in the same read.
      channel.on("exit", (c: number | null) => code = c);
      channel.on("data", () => {});
      channel.stderr.on("data", () => {});
      channel.on(
        "close",
        () => code === 0 ? resolve() : reject(new Error(`Remote command exited with ${code}`)),
      );
    });
  });
}

/** Several connections to one host, each call on the least busy one. */
export class RawPool {
  readonly #clients: Client[];
  readonly #busy: number[];

  private constructor(clients: Client[]) {
    this.#clients = clients;
    this.#busy = clients.map(() => 0);
  }

  /**
   * Opens `size` connections.
   *
   * @param target The host.
   * @param size Connections.
   * @returns The pool.
   */
  static async open(target: RawTarget, size: number): Promise<RawPool> {
    return new RawPool(await Promise.all(Array.from({ length: size }, () => rawConnect(target))));
  }

  /**
   * Runs a command on the least busy connection.
   *
   * @param command Remote command line.
   */
  async exec(command: string): Promise<void> {
    let pick = 0;
    for (let i = 1; i < this.#busy.length; i++) if (this.#busy[i] < this.#busy[pick]) pick = i;
    this.#busy[pick]++;
    try {
      await rawExec(this.#clients[pick], command);
    } finally {
      this.#busy[pick]--;
    }
  }

  /** Closes every connection. */
  close(): void {
    for (const client of this.#clients) client.end();
  }
}
