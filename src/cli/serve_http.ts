/**
 * `tailops serve --transport http`: the Streamable HTTP server (Hono app,
 * authentication, sessions, approvals and metrics routes). Loaded by
 * `serve` only for this transport.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { createAuthenticator } from "../auth/authenticator.ts";
import { ensureAdminToken } from "../auth/bootstrap_token.ts";
import { protectedResourceMetadata } from "../auth/metadata.ts";
import { fullIdentity } from "../gate/identity.ts";
import { createTransportLimiter } from "../gate/rate_limit.ts";
import { createApp } from "../http/app.ts";
import { approvalsApi } from "../http/approvals_api.ts";
import { defaultHostsAndOrigins, type HostOriginOptions } from "../http/host_origin.ts";
import { DEFAULT_LISTENER_LIMITS, type HttpListener, listenHttp } from "../http/listener.ts";
import { DEFAULT_SESSION_LIMITS, type McpSessions, mcpSessions } from "../http/mcp_sessions.ts";
import type { Gateway } from "./gateway.ts";
import type { ServeOptions } from "./serve.ts";
import { onShutdown } from "./shutdown.ts";

const log = getLogger(["tailops", "serve"]);

/**
 * Serves MCP over Streamable HTTP until a signal stops the gateway.
 *
 * @param options Validated `serve` options.
 * @param gateway The opened gateway.
 * @returns When the server has stopped.
 */
export async function serveHttp(options: ServeOptions, gateway: Gateway): Promise<void> {
  const { hostname, port } = options.listen;
  const limits = options.http ?? {
    listener: DEFAULT_LISTENER_LIMITS,
    sessions: DEFAULT_SESSION_LIMITS,
  };
  const sessions = mcpSessions(gateway.core, limits.sessions);
  const defaults = defaultHostsAndOrigins(options.listen, options.publicUrl);
  const hosts = {
    allowedHosts: [...defaults.allowedHosts, ...options.allowedHosts],
    allowedOrigins: [...defaults.allowedOrigins, ...options.allowedOrigins],
  };
  // Bound first (with port 0 the Host check needs the port it got); accepting
  // starts once the app exists, so early connections wait in the kernel queue.
  const server = listenHttp({ hostname, port }, limits.listener);
  const actualPort = server.addr.port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const resource = options.publicUrl ?? `http://${host}:${actualPort}/mcp`;
  if (port === 0) {
    const listened = defaultHostsAndOrigins({ hostname, port: actualPort }, options.publicUrl);
    hosts.allowedHosts.push(...listened.allowedHosts);
    hosts.allowedOrigins.push(...listened.allowedOrigins);
  }
  try {
    await serveOn(server, { options, gateway, sessions, hosts, resource });
  } catch (error) {
    await server.close(0);
    throw error;
  }
}

async function serveOn(
  server: HttpListener,
  parts: {
    options: ServeOptions;
    gateway: Gateway;
    sessions: McpSessions;
    hosts: HostOriginOptions;
    resource: string;
  },
): Promise<void> {
  const { options, gateway, sessions, hosts, resource } = parts;
  let auth: Parameters<typeof createApp>[0]["auth"];
  let metadata: Parameters<typeof createApp>[0]["metadata"];
  if (options.noAuth) {
    log.warn("Authentication is OFF (--no-auth): every loopback caller has full access");
    auth = { anonymous: fullIdentity("local:anonymous", "local") };
  } else {
    const token = await ensureAdminToken(options.stateDir);
    auth = {
      authenticator: await createAuthenticator(
        { auth: gateway.policy.auth, identities: gateway.policy.identities },
        { stateDir: options.stateDir, resource },
      ),
    };
    metadata = protectedResourceMetadata(gateway.policy.auth, { resource });
    log.info("Admin token {state} at {path}", {
      state: token.created ? "created" : "kept",
      path: token.path,
    });
  }
  const app = createApp({
    hosts,
    sessions,
    auth,
    metadata,
    limiter: createTransportLimiter(),
    routes: { "/approvals": approvalsApi(gateway.approvals) },
    metrics: () =>
      gateway.core.metrics?.render([
        { name: "tailops_sessions", help: "Open Streamable HTTP sessions.", read: sessions.size },
        {
          name: "tailops_http_connections",
          help: "Open HTTP connections.",
          read: server.connections,
        },
        {
          name: "tailops_http_connections_refused",
          help: "HTTP connections closed at once by the connection caps.",
          read: server.refused,
        },
        {
          name: "tailops_audit_records",
          help: "Records in the audit log.",
          read: () => gateway.audit.seq,
        },
        {
          name: "tailops_audit_failed",
          help: "1 when the audit log has failed and calls are refused.",
          read: () => (gateway.audit.failure ? 1 : 0),
        },
      ]) ?? "",
  });
  server.serve((request, remoteAddr) => app.fetch(request, { remoteAddr }));
  onShutdown(async () => {
    await sessions.close();
    // Close the gateway (its `stopped` record) before stopping the server: once
    // server.finished resolves, runServe returns and the process exits.
    await gateway.close();
    await server.close();
  });
  const l = server.limits;
  log.info(
    "HTTP limits: {maxConnections} connections ({perPeer} per peer), headers within {headersMs} ms, keep-alive idle {keepAliveMs} ms",
    {
      maxConnections: server.maxConnections,
      perPeer: l.maxConnectionsPerPeer,
      headersMs: l.headersTimeoutMs,
      keepAliveMs: l.keepAliveTimeoutMs,
    },
  );
  const url = new URL("/mcp", server.origin).href;
  log.info("Listening on {url}", { url, port: server.addr.port });
  await server.finished;
}
