/**
 * Pooled SSH connections for one target. Channels per connection are capped
 * (`max_channels`, below OpenSSH's `MaxSessions 10`); when every connection is
 * full another is opened. A channel open the server refuses lowers that
 * connection's cap (and the cap of later connections) and is retried
 * elsewhere. A call that finds its connection dead reconnects once. Idle
 * connections close after `idle_close_ms`.
 *
 * A connection that stops answering is never given new work: one on which a
 * call timed out is retired ({@linkcode ConnectionPool.retire}), and so is
 * one that leaves a channel open unanswered for
 * {@linkcode CHANNEL_OPEN_TIMEOUT_MS} (the call then dials a fresh
 * connection). A retired connection closes when its last channel does, or
 * when ssh2's keepalive gives up on it.
 *
 * @module
 */
// @ts-types="@types/ssh2"
import type { Client } from "ssh2";
import { SshError } from "./_ssh_errors.ts";

/** Connections per target at most; further calls wait for a free channel. */
export const MAX_CONNECTIONS = 64;
/**
 * How long a pooled connection may leave a channel open unanswered before it
 * counts as stuck. On loopback an open takes ~2 ms, across the world well
 * under a second; a server that is frozen (or a link that silently dropped)
 * never answers.
 */
export const CHANNEL_OPEN_TIMEOUT_MS = 5_000;
/** Refused channel opens one call retries at most. */
const MAX_REFUSALS = 32;

/** Anything opened on a connection that reports when it closes. */
export interface Closable {
  once(event: "close", listener: () => void): unknown;
  close?(): unknown;
}

/** Settings of one pool. */
export interface PoolOptions {
  readonly maxChannels: number;
  readonly idleCloseMs: number;
  /** Opens a new authenticated connection. */
  readonly connect: () => Promise<Client>;
  /** Overrides {@linkcode CHANNEL_OPEN_TIMEOUT_MS} (tests). */
  readonly channelOpenTimeoutMs?: number;
  /** Writes a line to the host's log. */
  readonly log: (message: string, properties?: Record<string, unknown>) => void;
}

interface Connection {
  readonly id: number;
  readonly ready: Promise<Client>;
  client?: Client;
  dead: boolean;
  /** Takes no new work (a call on it timed out, or it left an open unanswered). */
  retired: boolean;
  cap: number;
  /** Slots held: channels open or being opened. */
  reserved: number;
  /** Channels confirmed open. */
  open: number;
  idle?: ReturnType<typeof setTimeout>;
}

let nextId = 1;

/** Waits for a promise unless the signal aborts first. */
function race<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function isRefused(error: unknown): boolean {
  const e = error as { message?: string; reason?: unknown };
  return /Channel open failure/.test(e.message ?? "") &&
    (e.reason === 1 || e.reason === 4 || /open failed/.test(e.message ?? ""));
}

/** Thrown inside {@linkcode ConnectionPool.open} when a channel open went unanswered. */
class StuckConnection extends Error {}

function isDeadConnection(error: unknown): boolean {
  const message = (error as { message?: string }).message ?? "";
  return /Not connected|No response from server|closed channel unexpectedly|write after end|EPIPE|ECONNRESET/
    .test(message);
}

/** The connections of one target. */
export class ConnectionPool {
  readonly #options: PoolOptions;
  #cap: number;
  #connections: Connection[] = [];
  #waiters: (() => void)[] = [];
  #closed = false;

  /** @param options Channel cap, idle close and how to connect. */
  constructor(options: PoolOptions) {
    this.#options = options;
    this.#cap = options.maxChannels;
  }

  /** Connections currently open or opening. */
  get size(): number {
    return this.#connections.length;
  }

  /**
   * Opens something (an exec channel, a forwarded stream) on a pooled
   * connection, holding one channel slot until it closes.
   *
   * @param opener Opens it on a ready client.
   * @param signal Aborts waiting; the reason is thrown.
   * @param options `stuckAfter: false` waits for the server's answer as long as the
   *   signal allows: a forwarded stream's open is answered only once the server has
   *   connected onwards, which may take longer than {@linkcode CHANNEL_OPEN_TIMEOUT_MS}
   *   on a healthy connection.
   * @returns What the opener returned.
   * @throws {SshError} When connecting fails, or the opener's error when it is not a refusal.
   */
  async open<C extends Closable>(
    opener: (client: Client) => Promise<C>,
    signal?: AbortSignal,
    options: { stuckAfter?: false } = {},
  ): Promise<C> {
    let refusals = 0;
    let reconnected = false;
    for (;;) {
      signal?.throwIfAborted();
      // After a dead connection, other pooled ones likely died with it (sshd
      // restarted) without our having seen it yet: the retry dials afresh.
      const connection = await this.#lease(signal, reconnected);
      let client: Client;
      try {
        client = await race(connection.ready, signal);
      } catch (error) {
        this.#release(connection);
        throw error;
      }
      try {
        // Set when this open is given up as stuck; its late success is closed.
        let abandoned = false;
        const attempt = connection.dead
          ? Promise.reject(new Error("Not connected"))
          : opener(client);
        const pending = attempt.then((opened) => {
          connection.open++;
          let closed = false;
          opened.once("close", () => {
            if (closed) return;
            closed = true;
            connection.open--;
            this.#release(connection);
          });
          // The caller gave up while it opened (or the open came too late to
          // be used): close it, the slot frees on "close".
          if (signal?.aborted || abandoned) opened.close?.();
          return opened;
        }, (error) => {
          if (isRefused(error)) {
            // The server holds fewer sessions than we had in flight here. Lower the
            // cap before releasing, so the freed slot is not handed out again.
            connection.cap = Math.max(1, Math.min(connection.cap, connection.reserved - 1));
            this.#cap = Math.min(this.#cap, connection.cap);
          }
          this.#release(connection);
          throw error;
        });
        if (options.stuckAfter === false) return await race(pending, signal);
        return await this.#withinOpenDeadline(connection, pending, {
          signal,
          onStuck: () => abandoned = true,
        });
      } catch (error) {
        if (error instanceof StuckConnection) {
          if (reconnected) {
            throw new SshError("unreachable", "The SSH server did not answer a session request");
          }
          reconnected = true;
          continue;
        }
        if (isRefused(error) && ++refusals <= MAX_REFUSALS) {
          this.#options.log("SSH server refused a channel; lowering the channel cap", {
            cap: connection.cap,
          });
          continue;
        }
        if ((connection.dead || isDeadConnection(error)) && !reconnected) {
          reconnected = true;
          this.#drop(connection);
          this.#options.log("Pooled SSH connection was dead; reconnecting once");
          continue;
        }
        throw error;
      }
    }
  }

  /**
   * Retires the connection a client belongs to: it takes no new work and
   * closes once its last channel closes. Called when a call on it timed out,
   * since a server that stopped answering one channel has likely stopped
   * answering all of them.
   *
   * @param client The connection's client.
   * @param why What happened, for the log.
   */
  retire(client: Client, why: string): void {
    const connection = this.#connections.find((c) => c.client === client);
    if (connection) this.#retire(connection, why);
  }

  /** Closes every connection; later calls fail. */
  close(): void {
    this.#closed = true;
    for (const connection of [...this.#connections]) this.#drop(connection);
  }

  #retire(connection: Connection, why: string): void {
    if (connection.retired || connection.dead) return;
    connection.retired = true;
    this.#options.log("Retiring pooled SSH connection: {why}", { why });
    if (connection.reserved === 0) this.#drop(connection);
  }

  /** Waits for an open, retiring the connection if it stays unanswered too long. */
  async #withinOpenDeadline<C>(
    connection: Connection,
    pending: Promise<C>,
    options: { signal?: AbortSignal; onStuck: () => void },
  ): Promise<C> {
    const ms = this.#options.channelOpenTimeoutMs ?? CHANNEL_OPEN_TIMEOUT_MS;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stuck = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        options.onStuck();
        this.#retire(connection, `a session request went unanswered for ${ms} ms`);
        reject(new StuckConnection());
      }, ms);
    });
    try {
      return await race(Promise.race([pending, stuck]), options.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #lease(signal?: AbortSignal, fresh = false): Promise<Connection> {
    for (;;) {
      if (this.#closed) throw new SshError("cancelled", "The SSH executor is shutting down");
      const canDial = this.#connections.length < MAX_CONNECTIONS;
      const free = fresh && canDial
        ? undefined
        : this.#connections.find((c) => !c.dead && !c.retired && c.reserved < c.cap);
      if (free) {
        free.reserved++;
        clearTimeout(free.idle);
        return free;
      }
      if (canDial) {
        const connection = this.#connect();
        connection.reserved++;
        return connection;
      }
      await race(new Promise<void>((resolve) => this.#waiters.push(resolve)), signal);
    }
  }

  #connect(): Connection {
    const connection: Connection = {
      id: nextId++,
      cap: this.#cap,
      dead: false,
      retired: false,
      reserved: 0,
      open: 0,
      ready: this.#options.connect(),
    };
    this.#connections.push(connection);
    connection.ready.then((client) => {
      connection.client = client;
      const onGone = () => this.#drop(connection);
      client.once("close", onGone);
      client.once("end", onGone);
      client.on("error", (error: Error) => {
        this.#options.log("Pooled SSH connection failed", { reason: error.message });
        onGone();
      });
      if (connection.dead) client.end();
    }, () => this.#drop(connection));
    connection.ready.catch(() => {});
    return connection;
  }

  #release(connection: Connection): void {
    connection.reserved--;
    if (connection.reserved === 0 && connection.retired) this.#drop(connection);
    else if (connection.reserved === 0 && !connection.dead) {
      clearTimeout(connection.idle);
      connection.idle = setTimeout(() => {
        this.#options.log("Closing idle SSH connection");
        this.#drop(connection);
      }, this.#options.idleCloseMs);
    }
    this.#waiters.shift()?.();
  }

  #drop(connection: Connection): void {
    if (connection.dead) return;
    connection.dead = true;
    clearTimeout(connection.idle);
    this.#connections = this.#connections.filter((c) => c !== connection);
    connection.client?.end();
    for (const wake of this.#waiters.splice(0)) wake();
  }
}
