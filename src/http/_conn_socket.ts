/**
 * A `node:net`-like socket over an accepted `Deno.Conn`, for handing
 * connections that our own accept loop took to a `node:http` server
 * (`server.emit("connection", socket)`). Deno's node:http accepts any
 * Duplex there, as Node documents; Deno's own `DENO_SERVE_ADDRESS` listener
 * feeds its server the same way. This wrapper exposes what the HTTP server
 * reads: the peer address, an idle timeout (`setTimeout`, used for
 * keep-alive), `destroySoon`, and no-op `ref`/`unref`/`setNoDelay`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";

const READ_BUFFER_BYTES = 64 * 1024;

/** A socket over one accepted TCP or unix connection. */
export class ConnSocket extends Duplex {
  /** The peer's IP address (empty for a unix socket). */
  readonly remoteAddress: string;
  /** The peer's port (0 for a unix socket). */
  readonly remotePort: number;
  /** `IPv4`, `IPv6` or `unix`. */
  readonly remoteFamily: string;
  /** Always false: TLS ends in front of the gateway. */
  readonly encrypted = false;
  /** Read by node:http. */
  _httpMessage: unknown = null;
  readonly #conn: Deno.Conn;
  readonly #buffer = new Uint8Array(READ_BUFFER_BYTES);
  #resume: (() => void) | undefined;
  #closed = false;
  #timeoutMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  #lastActivity = Date.now();

  /**
   * Wraps a connection and starts reading from it.
   *
   * @param conn The accepted connection; this socket owns and closes it.
   */
  constructor(conn: Deno.Conn) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
    const remote = conn.remoteAddr;
    if (remote.transport === "tcp" || remote.transport === "udp") {
      this.remoteAddress = remote.hostname;
      this.remotePort = remote.port;
      this.remoteFamily = remote.hostname.includes(":") ? "IPv6" : "IPv4";
    } else {
      this.remoteAddress = "";
      this.remotePort = 0;
      this.remoteFamily = "unix";
    }
    void this.#readLoop();
  }

  /** Milliseconds since the last byte read or written (or since the connection opened). */
  get idleMs(): number {
    return Date.now() - this.#lastActivity;
  }

  /** The peer as `Deno.serve` reports it, for the app's `remoteAddr` binding. */
  get peer(): Deno.NetAddr {
    return { transport: "tcp", hostname: this.remoteAddress, port: this.remotePort };
  }

  async #readLoop(): Promise<void> {
    while (!this.#closed) {
      let n: number | null;
      try {
        n = await this.#conn.read(this.#buffer);
      } catch (error) {
        if (!this.#closed) this.destroy(error as Error);
        return;
      }
      if (n === null) {
        this.push(null);
        return;
      }
      this.#touch();
      // Copied: the read buffer is reused for the next read.
      if (!this.push(Buffer.from(this.#buffer.subarray(0, n)))) {
        await new Promise<void>((resolve) => (this.#resume = resolve));
      }
    }
  }

  override _read(): void {
    const resume = this.#resume;
    this.#resume = undefined;
    resume?.();
  }

  override _write(
    chunk: Uint8Array | string,
    encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    this.#touch();
    this.#writeAll(bytes).then(() => callback(), (error) => callback(error));
  }

  // node:http corks the socket around a response's pieces (status line and
  // headers, chunk size, data, CRLF, the last chunk): they reach the peer in
  // one write instead of one system call each.
  override _writev(
    chunks: { chunk: Uint8Array | string; encoding: BufferEncoding }[],
    callback: (error?: Error | null) => void,
  ): void {
    const parts = chunks.map(({ chunk, encoding }) =>
      typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk
    );
    this.#touch();
    this.#writeAll(parts.length === 1 ? parts[0] : Buffer.concat(parts)).then(
      () => callback(),
      (error) => callback(error),
    );
  }

  // Deno's `write` may write fewer bytes than given: write the rest too.
  async #writeAll(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.byteLength) {
      offset += await this.#conn.write(bytes.subarray(offset));
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    const conn = this.#conn as Partial<Deno.TcpConn>;
    if (typeof conn.closeWrite !== "function") return callback();
    conn.closeWrite().then(() => callback(), () => callback());
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed by the peer's reset.
      }
    }
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this._read();
    callback(error);
  }

  /**
   * Ends the write side, then closes the connection once the data is out
   * (node:http calls this after a `Connection: close` response). A peer
   * that never closes its side cannot keep the descriptor.
   */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /**
   * Emits `timeout` after `ms` without reading or writing (0 turns it off),
   * as `net.Socket#setTimeout` does; node:http uses it for keep-alive.
   *
   * @param ms Idle time in milliseconds.
   * @param callback Added as a `timeout` listener.
   * @returns This socket.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) this.on("timeout", callback);
    this.#timeoutMs = ms > 0 ? ms : 0;
    // node:http turns the keep-alive timeout off and on around every
    // request: an armed timer that fires no later than the new idle time
    // would end is kept (when it fires it re-arms for what is left, or
    // stops when the timeout is off); only one that would fire too late goes.
    if (this.#timeoutMs > 0 && this.#timerDue > Date.now() + this.#timeoutMs) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#touch();
    return this;
  }

  // One timer per socket, re-armed only when it fires: activity just moves
  // a timestamp, so a busy connection does not churn timers.
  #touch(): void {
    this.#lastActivity = Date.now();
    if (this.#timeoutMs === 0 || this.#timer !== undefined || this.#closed) return;
    const arm = (delay: number) => {
      this.#timerDue = Date.now() + delay;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#closed || this.#timeoutMs === 0) return;
        const idle = Date.now() - this.#lastActivity;
        if (idle >= this.#timeoutMs) this.emit("timeout");
        else arm(this.#timeoutMs - idle);
      }, delay);
    };
    arm(this.#timeoutMs);
  }

  /** No-op: TCP_NODELAY is set when the connection is accepted. */
  setNoDelay(): this {
    return this;
  }

  /** No-op. */
  setKeepAlive(): this {
    return this;
  }

  /** No-op: the accept loop decides what keeps the process alive. */
  ref(): this {
    return this;
  }

  /** No-op. */
  unref(): this {
    return this;
  }

  /**
   * The local address, as `net.Socket#address` reports it.
   *
   * @returns Address, port and family, or an empty object for a unix socket.
   */
  address(): { address: string; port: number; family: string } | Record<string, never> {
    const local = this.#conn.localAddr;
    if (local.transport !== "tcp") return {};
    return {
      address: local.hostname,
      port: local.port,
      family: local.hostname.includes(":") ? "IPv6" : "IPv4",
    };
  }
}
