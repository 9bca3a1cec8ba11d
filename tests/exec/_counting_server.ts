/**
 * A raw HTTP/1.1 test server (TCP, TLS or unix socket) that counts the
 * connections it accepts, for keep-alive tests of the HTTP and Docker workers.
 *
 * @module
 */
/** What the counting server answers to one request. */
export interface Reply {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /**
   * After the response: `"close"` closes the socket; `"drop"` closes without answering;
   * `"hang"` neither answers nor closes (a stuck server), until the server closes.
   */
  readonly then?: "close" | "drop" | "hang";
}

/** A request the counting server read. */
export interface Seen {
  readonly method: string;
  readonly path: string;
  /** Which accepted connection carried it (1-based). */
  readonly conn: number;
}

/**
 * Starts a raw HTTP/1.1 server that counts accepted connections and answers
 * each request with `reply`; connections stay open unless told.
 *
 * @param reply What to answer.
 * @param listener Where to listen: plain TCP on 127.0.0.1 unless given (TLS, unix).
 * @returns The server: `port` (0 for unix), requests `seen`, the `accepted` count.
 */
export function startCountingServer(
  reply: (seen: Seen) => Reply,
  listener: Deno.Listener = Deno.listen({ hostname: "127.0.0.1", port: 0 }),
) {
  const conns = new Set<Deno.Conn>();
  const seen: Seen[] = [];
  let accepted = 0;
  let closedByServer = Promise.withResolvers<void>();
  const encoder = new TextEncoder();
  const serve = async (conn: Deno.Conn, n: number) => {
    let buf = "";
    const chunk = new Uint8Array(16 * 1024);
    for (;;) {
      let end = buf.indexOf("\r\n\r\n");
      while (end < 0) {
        const got = await conn.read(chunk).catch(() => null);
        if (got === null) return;
        buf += new TextDecoder("latin1").decode(chunk.subarray(0, got));
        end = buf.indexOf("\r\n\r\n");
      }
      const head = buf.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      while (buf.length < end + 4 + length) {
        const got = await conn.read(chunk).catch(() => null);
        if (got === null) return;
        buf += new TextDecoder("latin1").decode(chunk.subarray(0, got));
      }
      buf = buf.slice(end + 4 + length);
      const [method, path] = head.split(" ");
      const request = { method, path, conn: n };
      seen.push(request);
      const r = reply(request);
      if (r.then === "hang") return;
      if (r.then !== "drop") {
        const body = r.body ?? "{}";
        const headers = { "content-length": String(body.length), ...r.headers };
        const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
        await conn.write(encoder.encode(`HTTP/1.1 ${r.status ?? 200} OK\r\n${lines}\r\n${body}`));
      }
      if (r.then) {
        conn.close();
        conns.delete(conn);
        closedByServer.resolve();
        return;
      }
    }
  };
  (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      serve(conn, ++accepted).catch(() => {}).finally(() => conns.delete(conn));
    }
  })().catch(() => {});
  return {
    port: listener.addr.transport === "tcp" ? listener.addr.port : 0,
    seen,
    get accepted() {
      return accepted;
    },
    /** Resolves once the server has closed a connection on its own. */
    async serverClosed() {
      await closedByServer.promise;
      closedByServer = Promise.withResolvers<void>();
    },
    close() {
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Closed by the client.
        }
      }
      listener.close();
    },
  };
}
