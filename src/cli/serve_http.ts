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
import { transportLimiters } from "../http/rate_limit.ts";
import { createApp } from "../http/app.ts";
import { renderProcessMetrics } from "../http/process_metrics.ts";
import { readiness } from "../http/readiness.ts";
import { approvalsApi } from "../http/approvals_api.ts";
import { defaultHostsAndOrigins, type HostOriginOptions } from "../http/host_origin.ts";
import { DEFAULT_LISTENER_LIMITS, type HttpListener, listenHttp } from "../http/listener.ts";
import { DEFAULT_SESSION_LIMITS, type McpSessions, mcpSessions } from "../http/mcp_sessions.ts";
import { serveTailscaleSocket } from "../http/tailscale_socket.ts";
import { quoteArg } from "../exec/quote.ts";
import { CliError } from "./errors.ts";
import type { Gateway } from "./gateway.ts";
import type { ServeOptions } from "./serve_options.ts";
import { onShutdown } from "./shutdown.ts";
import { listenFailure, recordInstance } from "./serve_start.ts";
import { describeInstances, runningInstances } from "./instances.ts";

const log = getLogger(["tailops", "serve"]);

/** Time for connections to end after the calls in flight were drained or cut. */
const CLOSE_EXTRA_MS = 5_000;

/**
 * Says on stderr, once the gateway is ready, where it is, where its token is
 * and how a client connects: a JSON log line like every other, whose
 * `client_command` property is ready to paste.
 */
function announce(parts: {
  url: string;
  resource: string;
  tokenFile?: string;
  roles: readonly string[];
}): void {
  const { url, tokenFile, roles } = parts;
  const header = tokenFile === undefined
    ? ""
    : ` --header "Authorization: Bearer $(cat ${quoteArg(tokenFile)})"`;
  const mint = roles.length === 0
    ? undefined
    : `tailops token mint --sub NAME --role ${
      roles.includes("viewer") ? "viewer" : roles[0]
    } --ttl 8h`;
  const command = `claude mcp add --transport http tailops ${url}${header}`;
  // A person at a terminal gets the command as plain lines to copy (the JSON
  // record below escapes its quotes); logs collected elsewhere stay JSON only.
  if (Deno.stderr.isTerminal()) {
    console.error(
      [
        `tailops: serving MCP at ${url}`,
        tokenFile === undefined
          ? "tailops: no authentication (--no-auth)"
          : `tailops: admin token in ${tokenFile}${mint ? ` (narrower: ${mint})` : ""}`,
        `tailops: connect with: ${command}`,
      ].join("\n"),
    );
  }
  log.info(
    tokenFile === undefined
      ? "Ready: MCP at {url} without authentication; connect with: {client_command}"
      : "Ready: MCP at {url}; admin token in {token_file}; connect with: {client_command}",
    {
      url,
      resource: parts.resource,
      token_file: tokenFile,
      client_command: command,
      ...(mint ? { narrower_token: mint } : {}),
    },
  );
}

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
  const sessions = mcpSessions(gateway.core, {
    ...limits.sessions,
    bindings: gateway.state.sessions,
  });
  const defaults = defaultHostsAndOrigins(options.listen, options.publicUrl);
  const hosts = {
    allowedHosts: [...defaults.allowedHosts, ...options.allowedHosts],
    allowedOrigins: [...defaults.allowedOrigins, ...options.allowedOrigins],
  };
  // Bound first (with port 0 the Host check needs the port it got); accepting
  // starts once the app exists, so early connections wait in the kernel queue.
  let server: HttpListener;
  try {
    server = listenHttp({ hostname, port }, limits.listener);
  } catch (error) {
    await gateway.close();
    throw await listenFailure(error, { hostname, port, stateDir: options.stateDir });
  }
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
  let tokenFile: string | undefined;
  if (options.noAuth) {
    log.warn("Authentication is OFF (--no-auth): every loopback caller has full access");
    auth = { anonymous: fullIdentity("local:anonymous", "local") };
  } else {
    const token = await ensureAdminToken(options.stateDir);
    tokenFile = token.path;
    auth = {
      authenticator: await createAuthenticator(
        { auth: gateway.policy.auth, identities: gateway.policy.identities },
        { stateDir: options.stateDir, resource, tokens: gateway.state.tokens },
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
    ...transportLimiters(gateway.policy.rate_limits, options.http?.rates),
    ready: readiness([
      {
        name: "audit",
        check: () =>
          gateway.audit.failure &&
          `the audit log cannot be written, so calls are refused (${gateway.audit.failure.message})`,
      },
      {
        name: "workers",
        check: () => {
          // A probe starts the workers not yet running, so a later probe knows.
          gateway.workers.warm();
          return gateway.workers.unstartable();
        },
      },
      {
        name: "state",
        check: () => {
          const state = gateway.state.health();
          return state.ok
            ? undefined
            : `the shared state database is unreachable (${state.reason})`;
        },
      },
    ]),
    routes: { "/approvals": approvalsApi(gateway.approvals, { registry: gateway.registry }) },
    onRateLimited: (peer) =>
      void gateway.core.refusals?.record({
        event: "refused",
        reason: "rate_limited_http",
        peer,
        message: "429: Too many requests from this client",
      }),
    onAuthFailure: (failure) =>
      void gateway.core.refusals?.record({
        event: "auth_failed",
        reason: failure.reason,
        peer: failure.peer,
        message: `${failure.status}: ${failure.message}`,
      }),
    metrics: () =>
      (gateway.core.metrics?.render([
        { name: "tailops_sessions", help: "Open Streamable HTTP sessions.", read: sessions.size },
        {
          name: "tailops_http_connections",
          help: "Open HTTP connections.",
          read: server.connections,
        },
        {
          name: "tailops_http_connections_refused",
          help:
            "HTTP connections closed by the connection caps (at once, or idle ones giving way to their peer's new one).",
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
        {
          name: "tailops_audit_checkpoints_shipped",
          help: "Audit checkpoints delivered off the host (webhook, syslog).",
          read: () => gateway.shipping.shipped,
        },
        {
          name: "tailops_audit_checkpoint_ship_failures",
          help: "Audit checkpoint deliveries that failed (calls are never blocked by them).",
          read: () => gateway.shipping.failed,
        },
      ]) ?? "") + renderProcessMetrics(),
  });
  server.serve((request, remoteAddr) => app.fetch(request, { remoteAddr }));
  // Tailscale identity arrives only on a private unix socket that `tailscale
  // serve` proxies to; the same app serves it, marked with its channel. (Only
  // tailscaled can reach that socket, so it runs outside the TCP caps.)
  const stopController = new AbortController();
  let tailscaleServer: Deno.HttpServer<Deno.UnixAddr> | undefined;
  if (!options.noAuth && gateway.policy.auth?.tailscale.enabled) {
    try {
      // The socket has one path per state directory: a second gateway there
      // would take it over from the first (it replaces a stale socket).
      const holders = (await runningInstances(options.stateDir)).filter((i) =>
        i.tailscale_socket !== undefined
      );
      if (holders.length > 0) {
        throw new Error(
          `Cannot listen for tailscale serve on "${holders[0].tailscale_socket}": the gateway ${
            describeInstances(holders)
          } on this state directory serves it: stop it, give this gateway another --state-dir, or set auth.tailscale.enabled: false in its policy`,
        );
      }
      tailscaleServer = await serveTailscaleSocket(options.stateDir, {
        fetch: (request, env) => app.fetch(request, env),
        signal: stopController.signal,
      });
    } catch (error) {
      await gateway.close();
      throw new CliError((error as Error).message, 1);
    }
    log.info("Listening for tailscale serve on {path}", { path: tailscaleServer.addr.path });
  }
  let closing: Promise<unknown> | undefined;
  const stopped = onShutdown(gateway, {
    graceMs: options.shutdownGraceMs,
    // Graceful: no new connections; responses under way (a call's SSE
    // stream) go on until the sessions close below.
    stopAccepting: () =>
      void (closing = Promise.all([
        server.close(options.shutdownGraceMs + CLOSE_EXTRA_MS),
        tailscaleServer?.shutdown(),
      ])),
    // Closing the sessions ends the SSE streams still open (GET streams), so
    // the graceful shutdown can complete.
    closeTransports: async () => {
      await sessions.close();
      await closing;
    },
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
  await recordInstance(options, gateway, {
    url,
    listen: `${options.listen.hostname}:${server.addr.port}`,
    resource,
    tailscale_socket: tailscaleServer?.addr.path,
  });
  announce({
    url,
    resource,
    tokenFile,
    roles: Object.keys(gateway.policy.identities?.roles ?? {}),
  });
  await Promise.all([server.finished, tailscaleServer?.finished]);
  // The server finishes during a stop; the stop ends the process.
  await stopped;
}
