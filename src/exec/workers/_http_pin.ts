/**
 * TLS trusted by a pinned SHA-256 leaf-certificate fingerprint instead of a
 * CA chain (Proxmox VE's node certificate is signed by a cluster CA the
 * gateway does not have). Deno's own TLS (`Deno.startTls`) always verifies a
 * chain, so this runs Deno's `node:tls` over the already-connected and
 * address-checked TCP socket, compares the leaf's fingerprint before a byte
 * of application data is written, and hands back a minimal `Deno.Conn` view
 * (`read`, `write`, `close`) for the HTTP/1.1 client.
 *
 * Needs no permission beyond the TCP socket it is given.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { HttpFailure } from "./_http_result.ts";

/** Fingerprint in `AB:CD:…` form (uppercase hex, colons). */
function normalise(pin: string): string {
  return pin.replaceAll(":", "").toUpperCase().replace(/(..)(?!$)/g, "$1:");
}

/** A node Duplex over a Deno TCP connection. */
function duplexOver(tcp: Deno.Conn): Duplex {
  return new Duplex({
    read() {
      const buf = new Uint8Array(64 * 1024);
      tcp.read(buf).then(
        (n) => this.push(n === null ? null : buf.subarray(0, n)),
        (error) => this.destroy(error),
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      (async () => {
        for (let at = 0; at < chunk.length;) at += await tcp.write(chunk.subarray(at));
      })().then(() => done(), done);
    },
    destroy(error, done) {
      try {
        tcp.close();
      } catch {
        // Already closed.
      }
      done(error);
    },
  });
}

/** A `Deno.Conn` view of a node TLS socket: what the HTTP/1.1 client and the pool use. */
class PinnedConn {
  readonly #socket: tls.TLSSocket;
  readonly #chunks: Uint8Array[] = [];
  #ended = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;

  constructor(socket: tls.TLSSocket, tcp: Deno.Conn) {
    this.#socket = socket;
    this.remoteAddr = tcp.remoteAddr as Deno.NetAddr;
    this.localAddr = tcp.localAddr as Deno.NetAddr;
    const wake = () => {
      this.#wake?.();
      this.#wake = undefined;
    };
    socket.on("data", (chunk: Buffer) => {
      this.#chunks.push(new Uint8Array(chunk));
      wake();
    });
    socket.on("end", () => {
      this.#ended = true;
      wake();
    });
    socket.on("close", () => {
      this.#ended = true;
      wake();
    });
    socket.on("error", (error) => {
      this.#error = error;
      wake();
    });
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const chunk = this.#chunks[0];
    const n = Math.min(p.length, chunk.length);
    p.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  write(p: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#error || this.#ended) {
        return reject(this.#error ?? new Deno.errors.BrokenPipe("The connection is closed"));
      }
      this.#socket.write(Buffer.from(p), (error) => error ? reject(error) : resolve(p.length));
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#wake?.();
  }
}

/**
 * Starts TLS on a connected, address-checked socket and accepts the peer only
 * when its leaf certificate's SHA-256 fingerprint equals the pin. Hostname
 * and chain are not checked: the pin is the whole trust decision.
 *
 * @param tcp The connected TCP socket (closed on failure).
 * @param options The target id (for messages), the pinned fingerprint and the deadline.
 * @returns A connection for the HTTP/1.1 client.
 * @throws {HttpFailure} `untrusted` when the fingerprint differs or the handshake fails.
 */
export function startPinnedTls(
  tcp: Deno.Conn,
  options: {
    readonly id: string;
    /** The target's host name or IP literal; a name is sent as SNI. */
    readonly hostname: string;
    readonly pinSha256: string;
    readonly signal: AbortSignal;
  },
): Promise<Deno.Conn> {
  const expected = normalise(options.pinSha256);
  const literal = /^[\d.]+$|:/.test(options.hostname);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      socket: duplexOver(tcp),
      // The pin below is the whole trust decision; node's chain and name checks are off.
      rejectUnauthorized: false,
      ...(literal ? {} : { servername: options.hostname }),
    });
    const fail = (error: unknown) => {
      options.signal.removeEventListener("abort", onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(options.signal.reason);
    options.signal.addEventListener("abort", onAbort, { once: true });
    socket.once("error", () => {
      fail(
        new HttpFailure(
          "untrusted",
          `Cannot verify target ${JSON.stringify(options.id)}: the TLS handshake failed`,
        ),
      );
    });
    socket.once("secureConnect", () => {
      const found = normalise(socket.getPeerCertificate()?.fingerprint256 ?? "");
      if (found !== expected) {
        return fail(
          new HttpFailure(
            "untrusted",
            `Cannot verify target ${
              JSON.stringify(options.id)
            }: expected its certificate fingerprint ${expected}, found ${found || "none"}`,
          ),
        );
      }
      options.signal.removeEventListener("abort", onAbort);
      socket.removeAllListeners("error");
      resolve(new PinnedConn(socket, tcp) as unknown as Deno.Conn);
    });
  });
}
