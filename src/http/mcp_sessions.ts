/**
 * The `/mcp` endpoint, serving both protocol eras on one URL once the request
 * is authenticated:
 *
 * - 2026-07-28 requests (a `_meta` envelope naming the revision) are
 *   stateless: each is answered by a server built for that request's
 *   identity (the SDK's `createMcpHandler`, which also checks the
 *   `Mcp-Method`/`Mcp-Name` headers against the body and answers
 *   `server/discover`). Any gateway process sharing the state directory can
 *   answer any of them.
 * - 2025-era requests (`initialize` and what follows) use Streamable HTTP
 *   sessions, one MCP server each, bound to the subject that created them;
 *   or, with `stateless`, a fresh server per request and no session (for
 *   load balancers; no elicitation, as it needs a stream back to the client).
 *
 * Each request acts as the identity its own credential proves now (see
 * `createMcpServer`).
 *
 * Sessions are not a shared pool: each identity may hold a bounded number,
 * a new one beyond that is refused (never another identity's evicted), and
 * sessions that see no request for the idle time are closed (clients that
 * vanish without DELETE). A session with an open event stream (GET) is kept
 * six idle times: the stream may be a quiet client, or one that is gone.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Handler } from "hono";
import type { Identity } from "../gate/identity.ts";
import { authInfoFor } from "../mcp/request_identity.ts";
import { createMcpServer, type GatewayCore } from "../mcp/server.ts";
import {
  createMcpHandler,
  isLegacyRequest,
  type McpRequestContext,
  type McpServer,
  WebStandardStreamableHTTPServerTransport,
} from "../mcp/sdk.ts";
import { requestIdentity } from "../mcp/request_identity.ts";
import { checkRpcMessage } from "../mcp/rpc_message.ts";
import type { GatewayEnv } from "./authenticate.ts";
import type { SessionBindings } from "./session_bindings.ts";

const log = getLogger(["tailops", "http", "mcp"]);

/** Session limits. */
export interface SessionLimits {
  /** Sessions one identity (subject) may hold at once; a new one beyond is refused. */
  readonly maxSessionsPerIdentity: number;
  /** Sessions open at once in total; a new one beyond is refused. */
  readonly maxSessions: number;
  /** A session with no request and no open event stream for this long is closed, in ms. */
  readonly idleMs: number;
  /**
   * Serve 2025-era clients without sessions: every request is answered on
   * its own (no session id, no server-to-client requests such as
   * elicitation). 2026-07-28 requests are stateless either way.
   */
  readonly stateless?: boolean;
}

/** Safe defaults; `tailops serve --help` lists the flags that change them. */
export const DEFAULT_SESSION_LIMITS: Required<SessionLimits> = Object.freeze({
  maxSessionsPerIdentity: 16,
  maxSessions: 1024,
  idleMs: 10 * 60_000,
  stateless: false,
});

/** How many idle times a session with an open event stream is kept without requests. */
const STREAM_IDLE_FACTOR = 6;

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  subject: string;
  lastSeen: number;
  /** Event streams (GET) open now. */
  streams: number;
}

function rpcError(status: number, code: number, message: string): Response {
  return Response.json({ jsonrpc: "2.0", error: { code, message }, id: null }, { status });
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some((m) =>
    typeof m === "object" && m !== null && (m as { method?: unknown }).method === "initialize"
  );
}

/** The session table and its handler. */
export interface McpSessions {
  /** Handles GET, POST and DELETE on `/mcp`. */
  handler: Handler<GatewayEnv>;
  /** Sessions currently open. */
  size(): number;
  /** Closes sessions idle past the limit now (the sweep also runs on a timer). */
  sweep(): void;
  /** Closes every session. */
  close(): Promise<void>;
}

/**
 * Creates the `/mcp` handler.
 *
 * @param core What each session's MCP server is built from.
 * @param limits Session limits (defaults: {@linkcode DEFAULT_SESSION_LIMITS}).
 * @returns The handler and a way to close all sessions.
 */
export function mcpSessions(
  core: GatewayCore,
  limits: Partial<SessionLimits> & { bindings?: SessionBindings } = {},
): McpSessions {
  const { maxSessionsPerIdentity, maxSessions, idleMs, stateless } = {
    ...DEFAULT_SESSION_LIMITS,
    ...limits,
  };
  // Stateless requests: a server per request, for the identity it was
  // authenticated as (the SDK hands our AuthInfo back to the factory).
  const perRequest = createMcpHandler((ctx: McpRequestContext) => {
    const identity = requestIdentity({ authInfo: ctx.authInfo });
    if (identity === undefined) {
      throw new Error("A stateless MCP request arrived without an identity");
    }
    return createMcpServer(core, identity, { identityPerRequest: true });
  }, {
    legacy: "reject",
    onerror: (error) =>
      log.debug("Stateless MCP request refused: {error}", { error: error.message }),
  });
  const sessions = new Map<string, Session>();
  // Sessions per subject, counting those still initializing: two initialize
  // requests racing must not both take the last slot.
  const perSubject = new Map<string, number>();
  let pending = 0;
  const take = (subject: string) => perSubject.set(subject, (perSubject.get(subject) ?? 0) + 1);
  const release = (subject: string) => {
    const left = (perSubject.get(subject) ?? 1) - 1;
    if (left <= 0) perSubject.delete(subject);
    else perSubject.set(subject, left);
  };

  const closeSession = (id: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    release(session.subject);
    session.transport.close().catch(() => {});
    session.server.close().catch(() => {});
  };
  const sweep = () => {
    const now = Date.now();
    for (const [id, s] of sessions) {
      // An open event stream may be a client that waits quietly, or one whose
      // connection is gone without the gateway seeing it close: give it
      // longer, but not forever.
      const limit = s.streams > 0 ? idleMs * STREAM_IDLE_FACTOR : idleMs;
      if (now - s.lastSeen >= limit) {
        log.info("Closed idle session of {subject}", { subject: s.subject });
        closeSession(id);
      }
    }
  };
  const timer = setInterval(sweep, Math.max(50, Math.min(idleMs / 2, 30_000)));
  Deno.unrefTimer(timer);

  async function open(identity: Identity, request: Request, body: unknown): Promise<Response> {
    const subject = identity.subject;
    if ((perSubject.get(subject) ?? 0) >= maxSessionsPerIdentity) {
      log.warn("Refused a new session for {subject}: it holds {count} (the limit)", {
        subject,
        count: maxSessionsPerIdentity,
      });
      return rpcError(
        429,
        -32000,
        `Too many sessions: ${subject} already holds ${maxSessionsPerIdentity} open sessions (the limit); end one with DELETE /mcp or let it expire after ${
          Math.round(idleMs / 1000)
        } s without requests`,
      );
    }
    if (sessions.size + pending >= maxSessions) {
      log.warn("Refused a new session for {subject}: {count} sessions are open (the limit)", {
        subject,
        count: maxSessions,
      });
      return rpcError(
        503,
        -32000,
        `The gateway is at its limit of ${maxSessions} open sessions; try again later`,
      );
    }
    take(subject);
    pending++;
    let registered = false;
    // The shared owner record, written before the client learns the session id:
    // another gateway then refuses the id to another identity (403) at once,
    // instead of not finding it (404) while the write is still on its way.
    let bound: Promise<void> | undefined;
    const server = createMcpServer(core, identity, { identityPerRequest: true });
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id: string) => {
          registered = true;
          pending--;
          sessions.set(id, { transport, server, subject, lastSeen: Date.now(), streams: 0 });
          // Where bindings are shared, another gateway can refuse this id to another identity.
          bound = limits.bindings?.bind(id, subject).catch(() => {});
          log.info("Session opened for {subject}", { subject });
        },
        onsessionclosed: (id: string) => closeSession(id),
      });
    try {
      await server.connect(transport);
      const response = await transport.handleRequest(request, {
        parsedBody: body,
        authInfo: authInfoFor(identity),
      });
      await bound;
      return response;
    } finally {
      if (!registered) {
        // The initialize request failed: no session, no slot.
        pending--;
        release(subject);
        server.close().catch(() => {});
      }
    }
  }

  // 2025-era requests served without a session (`stateless`), by caller and
  // JSON-RPC id: a `notifications/cancelled` arrives as a request of its own
  // and reaches the call through here (on this process only).
  const running = new Map<string, () => void>();
  const runningKey = (subject: string, id: unknown) => `${subject}\0${JSON.stringify(id)}`;

  async function sessionless(
    identity: Identity,
    request: Request,
    body: unknown,
  ): Promise<Response> {
    if (request.method !== "POST") {
      return rpcError(
        405,
        -32000,
        "Method not allowed: this gateway serves 2025-era clients without sessions (--stateless), so there is no session to GET or DELETE",
      );
    }
    const message = body as { method?: unknown; id?: unknown; params?: { requestId?: unknown } };
    if (message.method === "notifications/cancelled") {
      running.get(runningKey(identity.subject, message.params?.requestId))?.();
      return new Response(null, { status: 202 });
    }
    const server = createMcpServer(core, identity, { identityPerRequest: true });
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
    });
    await server.connect(transport);
    const key = typeof message.method === "string" && message.id !== undefined
      ? runningKey(identity.subject, message.id)
      : undefined;
    let ended = false;
    // Closing the transport aborts the call's signal, as a cancel does in a session.
    const end = () => {
      if (ended) return;
      ended = true;
      if (key !== undefined && running.get(key) === end) running.delete(key);
      transport.close().catch(() => {});
      server.close().catch(() => {});
    };
    if (key !== undefined && !running.has(key)) running.set(key, end);
    let response: Response;
    try {
      response = await transport.handleRequest(request, {
        parsedBody: body,
        authInfo: authInfoFor(identity),
      });
    } catch (error) {
      end();
      throw error;
    }
    if (response.body === null) {
      end();
      return response;
    }
    // Streamed (SSE): the call is in flight until its stream ends or is dropped.
    const tracked = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({ flush: end, cancel: end }),
    );
    return new Response(tracked, { status: response.status, headers: response.headers });
  }

  const handler: McpSessions["handler"] = async function mcpEndpoint(c) {
    const identity = c.get("identity");
    const request = c.req.raw;
    const id = c.req.header("mcp-session-id");
    let body: unknown;
    if (request.method === "POST") {
      try {
        body = await c.req.json();
      } catch {
        return rpcError(400, -32700, "Parse error: the request body is not valid JSON");
      }
      // The same envelope checks as stdio: one precise error per malformed message.
      const checked = checkRpcMessage(body);
      if ("error" in checked) return Response.json(checked.error, { status: 400 });
    }
    if (!(await isLegacyRequest(request, body))) {
      return await perRequest.fetch(request, {
        authInfo: authInfoFor(identity),
        parsedBody: body,
      });
    }
    if (stateless) return await sessionless(identity, request, body);
    if (id === undefined) {
      if (request.method === "POST" && isInitialize(body)) {
        return await open(identity, request, body);
      }
      return rpcError(
        400,
        -32000,
        "Bad request: expected an mcp-session-id header or an initialize request",
      );
    }
    const session = sessions.get(id);
    // A session opened on another gateway: its owner, where the bindings are shared.
    const owner = session?.subject ?? await limits.bindings?.owner(id).catch(() => undefined);
    if (owner !== undefined && owner !== identity.subject) {
      log.warn("Refused session {id} to {subject}: it belongs to another identity", {
        id,
        subject: identity.subject,
      });
      return rpcError(403, -32002, "Forbidden: this session belongs to another identity");
    }
    if (!session) return rpcError(404, -32001, "Session not found: it expired or never existed");
    session.lastSeen = Date.now();
    const response = await session.transport.handleRequest(request, {
      parsedBody: body,
      authInfo: authInfoFor(identity),
    });
    if (
      request.method === "GET" &&
      response.headers.get("content-type")?.startsWith("text/event-stream") &&
      !request.signal.aborted
    ) {
      // An open event stream keeps the session in use until the client drops it.
      session.streams++;
      request.signal.addEventListener("abort", () => {
        session.streams--;
        session.lastSeen = Date.now();
      }, { once: true });
    }
    return response;
  };

  return {
    handler,
    size: () => sessions.size,
    sweep,
    async close() {
      clearInterval(timer);
      await perRequest.close().catch(() => {});
      for (const id of [...sessions.keys()]) closeSession(id);
      await Promise.resolve();
    },
  };
}
