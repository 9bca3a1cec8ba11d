/**
 * The `/mcp` endpoint: Streamable HTTP sessions, one MCP server each, bound to
 * the identity that created them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Handler } from "hono";
import type { Identity } from "../gate/identity.ts";
import { createMcpServer, type GatewayCore } from "../mcp/server.ts";
import { type McpServer, WebStandardStreamableHTTPServerTransport } from "../mcp/sdk.ts";
import type { GatewayEnv } from "./authenticate.ts";
import type { SessionBindings } from "./session_bindings.ts";

const log = getLogger(["tailops", "http", "mcp"]);

/** Options for {@linkcode mcpSessions}. */
export interface McpSessionOptions {
  /** Sessions kept at once; a new session beyond this evicts the idlest one. */
  maxSessions?: number;
  /** Idle time after which a session is closed. */
  idleMs?: number;
  /** Where session owners are recorded so any gateway sharing it can refuse a hijack. */
  bindings?: SessionBindings;
}

interface Session {
  transport: WebStandardStreamableHTTPServerTransport;
  server: McpServer;
  subject: string;
  lastSeen: number;
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
  /** Closes every session. */
  close(): Promise<void>;
}

/**
 * Creates the `/mcp` handler.
 *
 * @param core What each session's MCP server is built from.
 * @param options Session limits.
 * @returns The handler and a way to close all sessions.
 */
export function mcpSessions(core: GatewayCore, options: McpSessionOptions = {}): McpSessions {
  const maxSessions = options.maxSessions ?? 256;
  const idleMs = options.idleMs ?? 30 * 60_000;
  const sessions = new Map<string, Session>();

  const closeSession = (id: string) => {
    const session = sessions.get(id);
    if (!session) return;
    sessions.delete(id);
    session.transport.close().catch(() => {});
    session.server.close().catch(() => {});
  };
  const sweep = setInterval(() => {
    const cutoff = Date.now() - idleMs;
    for (const [id, s] of sessions) if (s.lastSeen < cutoff) closeSession(id);
  }, Math.min(idleMs, 60_000));
  Deno.unrefTimer(sweep);

  async function open(identity: Identity, request: Request, body: unknown): Promise<Response> {
    if (sessions.size >= maxSessions) {
      const idlest = [...sessions].sort((a, b) => a[1].lastSeen - b[1].lastSeen)[0];
      if (idlest) closeSession(idlest[0]);
    }
    const server = createMcpServer(core, identity);
    const transport: WebStandardStreamableHTTPServerTransport =
      new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id: string) => {
          sessions.set(id, { transport, server, subject: identity.subject, lastSeen: Date.now() });
          options.bindings?.bind(id, identity.subject).catch(() => {});
          log.info("Session opened for {subject}", { subject: identity.subject });
        },
        onsessionclosed: (id: string) => {
          sessions.delete(id);
        },
      });
    await server.connect(transport);
    return await transport.handleRequest(request, {
      parsedBody: body,
      authInfo: authInfo(identity),
    });
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
    }
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
    const owner = session?.subject ?? await options.bindings?.owner(id).catch(() => undefined);
    if (owner !== undefined && owner !== identity.subject) {
      log.warn("Refused session {id} to {subject}: it belongs to another identity", {
        id,
        subject: identity.subject,
      });
      return rpcError(403, -32002, "Forbidden: this session belongs to another identity");
    }
    if (!session) return rpcError(404, -32001, "Session not found: it expired or never existed");
    session.lastSeen = Date.now();
    return await session.transport.handleRequest(request, {
      parsedBody: body,
      authInfo: authInfo(identity),
    });
  };

  return {
    handler,
    size: () => sessions.size,
    async close() {
      clearInterval(sweep);
      for (const id of [...sessions.keys()]) closeSession(id);
      await Promise.resolve();
    },
  };
}

function authInfo(identity: Identity) {
  return {
    token: "",
    clientId: identity.subject,
    scopes: [...identity.scopes],
    extra: { kind: identity.kind },
  };
}
