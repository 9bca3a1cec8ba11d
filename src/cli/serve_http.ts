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
import { approvalsApi } from "../http/approvals_api.ts";
import { defaultHostsAndOrigins } from "../http/host_origin.ts";
import { mcpSessions } from "../http/mcp_sessions.ts";
import { serveTailscaleSocket } from "../http/tailscale_socket.ts";
import { CliError } from "./errors.ts";
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
  const sessions = mcpSessions(gateway.core);
  const defaults = defaultHostsAndOrigins(options.listen, options.publicUrl);
  const hosts = {
    allowedHosts: [...defaults.allowedHosts, ...options.allowedHosts],
    allowedOrigins: [...defaults.allowedOrigins, ...options.allowedOrigins],
  };
  // The server listens before the app exists (with port 0 the Host check needs
  // the port it got), so requests in that moment get 503 instead of the app.
  // deno-lint-ignore prefer-const
  let app: ReturnType<typeof createApp> | undefined;
  const stopController = new AbortController();
  const server = Deno.serve(
    {
      hostname,
      port,
      signal: stopController.signal,
      onListen: () => {},
    },
    (request, info) =>
      app ? app.fetch(request, info) : new Response("The gateway is starting", { status: 503 }),
  );
  const actualPort = server.addr.port;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const resource = options.publicUrl ?? `http://${host}:${actualPort}/mcp`;
  if (port === 0) {
    const listened = defaultHostsAndOrigins({ hostname, port: actualPort }, options.publicUrl);
    hosts.allowedHosts.push(...listened.allowedHosts);
    hosts.allowedOrigins.push(...listened.allowedOrigins);
  }
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
  app = createApp({
    hosts,
    sessions,
    auth,
    metadata,
    ...transportLimiters(gateway.policy.rate_limits),
    routes: { "/approvals": approvalsApi(gateway.approvals) },
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
      gateway.core.metrics?.render([
        { name: "tailops_sessions", help: "Open Streamable HTTP sessions.", read: sessions.size },
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
      ]) ?? "",
  });
  // Tailscale identity arrives only on a private unix socket that `tailscale
  // serve` proxies to; the same app serves it, marked with its channel.
  let tailscaleServer: Deno.HttpServer<Deno.UnixAddr> | undefined;
  if (!options.noAuth && gateway.policy.auth?.tailscale.enabled) {
    try {
      tailscaleServer = await serveTailscaleSocket(options.stateDir, {
        fetch: (request, env) => app!.fetch(request, env),
        signal: stopController.signal,
      });
    } catch (error) {
      stopController.abort();
      await gateway.close();
      throw new CliError((error as Error).message, 1);
    }
    log.info("Listening for tailscale serve on {path}", { path: tailscaleServer.addr.path });
  }
  onShutdown(async () => {
    await sessions.close();
    // Close the gateway (its `stopped` record) before stopping the server: once
    // server.finished resolves, runServe returns and the process exits.
    await gateway.close();
    stopController.abort();
  });
  log.info("Listening on {url}", { url: `http://${host}:${actualPort}/mcp`, port: actualPort });
  await Promise.all([server.finished, tailscaleServer?.finished]);
}
