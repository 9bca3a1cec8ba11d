/**
 * The HTTP listener: our own accept loop in front of a node:http parser, so
 * a flood of connections cannot take the gateway down.
 *
 * `Deno.serve` (2.9) has no header-read or keep-alive idle timeout (an idle
 * or half-sent connection stays open forever) and exits the process when
 * `accept` fails with "Too many open files"; node:http's own listener stops
 * accepting for good after that error. So the gateway accepts with
 * `Deno.listen` and:
 *
 * - refuses (closes at once) a connection beyond the total cap or the cap
 *   per peer address, before reading a byte — except that a peer at its cap
 *   first loses its longest-idle kept-alive connection (idle 50 ms or more),
 *   since pooling clients open new connections while holding idle ones;
 * - keeps the total cap below the process's descriptor limit minus a
 *   reserve for the audit log, workers and target connections;
 * - never stops on an accept error: it backs off (10 ms doubling to 1 s),
 *   sheds the oldest connections that have no request in flight, and
 *   keeps accepting;
 * - hands each connection to a node:http server that is never bound, whose
 *   `headersTimeout`, `requestTimeout` and `keepAliveTimeout` close slow and
 *   idle connections (Deno's node:http honours them; tests show it).
 *
 * @module
 */
import http from "node:http";
import { getLogger } from "@logtape/logtape";
import { ConnSocket } from "./_conn_socket.ts";
import { type FetchHandler, nodeRequestListener } from "./_node_fetch.ts";

const log = getLogger(["tailops", "http", "listener"]);

import { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from "./listener_limits.ts";

export { DEFAULT_LISTENER_LIMITS, type ListenerLimits } from "./listener_limits.ts";

const SHED_PER_FAILURE = 16;
/** Idle time after which a peer's kept-alive connection may give way to its new one, in ms. */
const PEER_SHED_IDLE_MS = 50;
const MAX_BACKOFF_MS = 1_000;

/** A listening socket that serves a fetch handler once `serve` is called. */
export interface HttpListener {
  /** The bound address (the actual port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** `http://host:port` of the bound address. */
  readonly origin: string;
  /** The limits in force. */
  readonly limits: ListenerLimits;
  /** The total cap in force (the configured one, lowered to fit the descriptor limit). */
  readonly maxConnections: number;
  /** Starts accepting; connections that arrive before wait in the kernel's queue. */
  serve(handler: FetchHandler): void;
  /** Connections open now. */
  connections(): number;
  /** Connections refused by the caps so far. */
  refused(): number;
  /** Resolves when the listener has been closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting, lets requests in flight finish for up to `graceMs`, then
   * closes every connection.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * The soft limit on open descriptors, from `/proc/self/limits` (Linux).
 * Deno raises the soft limit to the hard one at start, so this is the hard
 * limit the service was given (systemd `LimitNOFILE`).
 *
 * Needs `read` on `/proc/self/limits`; without it, or elsewhere, the limit
 * is unknown.
 *
 * @returns The limit, or `undefined` when it cannot be read.
 */
export function openFileLimit(): number | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    return m && m[1] !== "unlimited" ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The total connection cap that leaves `fdReserve` descriptors free.
 *
 * @param limits The configured limits.
 * @param fileLimit The descriptor limit, when known.
 * @returns The cap, at least 1.
 */
export function effectiveMaxConnections(limits: ListenerLimits, fileLimit?: number): number {
  if (fileLimit === undefined) return limits.maxConnections;
  return Math.max(1, Math.min(limits.maxConnections, fileLimit - limits.fdReserve));
}

/**
 * Binds a TCP listener. Call `serve` on the result to start answering.
 *
 * Needs `net` for the address.
 *
 * @param address Where to listen.
 * @param limits Connection limits (defaults: {@linkcode DEFAULT_LISTENER_LIMITS}).
 * @returns The listener.
 * @throws {Deno.errors.AddrInUse} When the address is taken (and other bind errors).
 */
export function listenHttp(
  address: { hostname: string; port: number },
  limits: ListenerLimits = DEFAULT_LISTENER_LIMITS,
): HttpListener {
  const listener = Deno.listen({ hostname: address.hostname, port: address.port });
  const addr = listener.addr as Deno.NetAddr;
  const fileLimit = openFileLimit();
  const maxConnections = effectiveMaxConnections(limits, fileLimit);
  if (maxConnections < limits.maxConnections) {
    log.warn(
      "Lowered the HTTP connection cap from {configured} to {cap}: the descriptor limit is {fileLimit} and {reserve} stay reserved (raise LimitNOFILE)",
      {
        configured: limits.maxConnections,
        cap: maxConnections,
        fileLimit,
        reserve: limits.fdReserve,
      },
    );
  }
  const open = new Set<ConnSocket>();
  const perPeer = new Map<string, number>();
  let refusedCount = 0;
  let closing = false;
  let resolveFinished!: () => void;
  const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
  const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
  const origin = `http://${host}:${addr.port}`;

  const server = http.createServer({
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often node:http looks for connections past their header or request
    // deadline: a deadline is enforced within this much.
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, limits.headersTimeoutMs / 4)),
  });
  // The server is never bound (our loop accepts), but node:http treats an
  // unbound server as closing: it would close every connection after one
  // response and never check deadlines. Deno's own DENO_SERVE_ADDRESS
  // listener does the same: a handle stub, then `listening`.
  (server as unknown as { _handle: unknown })._handle = {
    close() {},
    ref() {},
    unref() {},
  };
  server.emit("listening");

  // A peer at its cap whose client pools connections (hyper, undici: no limit per host by
  // default) often holds idle kept-alive ones while it opens a new one for its next request:
  // close its longest-idle connection, not the new one. Only the peer's own connections go.
  function shedIdleOfPeer(peer: string): boolean {
    let idlest: ConnSocket | undefined;
    for (const socket of open) {
      if (socket.remoteAddress !== peer || socket._httpMessage !== null) continue;
      if (socket.idleMs >= PEER_SHED_IDLE_MS && socket.idleMs > (idlest?.idleMs ?? -1)) {
        idlest = socket;
      }
    }
    if (idlest === undefined) return false;
    // Counted out now, not when its close event comes: the new connection takes its place.
    forget(idlest, peer);
    idlest.destroy();
    refusedCount++;
    return true;
  }

  // Once per connection, whichever comes first: its close event or its shedding.
  function forget(socket: ConnSocket, peer: string): void {
    if (!open.delete(socket)) return;
    const left = (perPeer.get(peer) ?? 1) - 1;
    if (left <= 0) perPeer.delete(peer);
    else perPeer.set(peer, left);
  }

  function admit(conn: Deno.Conn): void {
    const peer = (conn.remoteAddr as Deno.NetAddr).hostname ?? "";
    if (!closing && (perPeer.get(peer) ?? 0) >= limits.maxConnectionsPerPeer) {
      shedIdleOfPeer(peer);
    }
    const fromPeer = perPeer.get(peer) ?? 0;
    if (closing || open.size >= maxConnections || fromPeer >= limits.maxConnectionsPerPeer) {
      refusedCount++;
      try {
        conn.close();
      } catch {
        // Already reset by the peer.
      }
      return;
    }
    try {
      (conn as Deno.TcpConn).setNoDelay?.(true);
    } catch {
      // Reset before we got to it; the socket will see the error.
    }
    const socket = new ConnSocket(conn);
    open.add(socket);
    perPeer.set(peer, fromPeer + 1);
    socket.once("close", () => forget(socket, peer));
    // A reset connection must not become an unhandled error event.
    socket.on("error", () => {});
    server.emit("connection", socket);
  }

  // Under descriptor exhaustion, the connections to give up first are the
  // oldest ones with no request in flight (idle floods, idle keep-alives).
  function shedIdle(): number {
    let shed = 0;
    for (const socket of open) {
      if (shed >= SHED_PER_FAILURE) break;
      if (socket._httpMessage === null) {
        socket.destroy();
        shed++;
      }
    }
    return shed;
  }

  let lastFailureLog = 0;
  async function acceptLoop(): Promise<void> {
    let backoffMs = 10;
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing || error instanceof Deno.errors.BadResource) break;
        const shed = shedIdle();
        const now = Date.now();
        if (now - lastFailureLog > 10_000) {
          lastFailureLog = now;
          log.error(
            "Accepting a connection failed ({error}); retrying in {backoffMs} ms, closed {shed} idle connections, {open} open",
            { error: (error as Error).message, backoffMs, shed, open: open.size },
          );
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
        continue;
      }
      backoffMs = 10;
      admit(conn);
    }
    resolveFinished();
  }

  let serving = false;
  return {
    addr,
    origin,
    limits,
    maxConnections,
    serve(handler) {
      if (serving) throw new TypeError("The listener is already serving");
      serving = true;
      server.on("request", nodeRequestListener(handler, () => origin));
      acceptLoop().catch((error) => {
        // Not reachable (every error is caught above); log rather than exit.
        log.error("The accept loop stopped: {error}", { error: String(error) });
        resolveFinished();
      });
    },
    connections: () => open.size,
    refused: () => refusedCount,
    finished,
    async close(graceMs = 2_000) {
      if (closing) return await finished;
      closing = true;
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      if (!serving) resolveFinished();
      const deadline = Date.now() + graceMs;
      // A kept-alive connection goes as soon as its last response is out.
      for (;;) {
        server.closeIdleConnections();
        for (const socket of open) if (socket._httpMessage === null) socket.destroy();
        if (open.size === 0 || Date.now() >= deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      for (const socket of open) socket.destroy();
      server.close();
      await finished;
    },
  };
}
