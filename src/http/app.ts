/**
 * The HTTP application, assembled in one place and in order:
 * health and readiness → Host/Origin check → rate limit → body limit → protected resource
 * metadata → authentication → MCP, approvals and metrics.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Identity } from "../gate/identity.ts";
import type { Authenticator } from "../auth/types.ts";
import {
  authenticate,
  type AuthFailure,
  type GatewayEnv,
  noAuthentication,
} from "./authenticate.ts";
import { hostOriginGuard, type HostOriginOptions } from "./host_origin.ts";
import type { McpSessions } from "./mcp_sessions.ts";
import type { TokenBucketLimiter } from "../gate/rate_limit.ts";
import { rateLimit, rateLimitByIdentity } from "./rate_limit.ts";
import { MAX_MESSAGE_BYTES } from "../mcp/rpc_message.ts";

/** Largest request body accepted on `/mcp`, in bytes: the message limit of both transports. */
export const DEFAULT_BODY_LIMIT = MAX_MESSAGE_BYTES;

/** What the app is assembled from. */
export interface AppOptions {
  /** Accepted Host and Origin values. */
  hosts: HostOriginOptions;
  /** Either an authenticator, or the identity every request gets (`--no-auth`, loopback only). */
  auth: { authenticator: Authenticator } | { anonymous: Identity };
  /** The `/mcp` sessions. */
  sessions: McpSessions;
  /** The RFC 9728 document and the paths it is served at. */
  metadata?: { document: unknown; paths: readonly string[] };
  /** Body limit in bytes. */
  bodyLimitBytes?: number;
  /** Requests that end unauthenticated, per client address. */
  limiter?: TokenBucketLimiter;
  /** Authenticated requests, per identity (see `transportLimiters`). */
  identityLimiter?: TokenBucketLimiter;
  /** Prometheus text for `/metrics` (served behind authentication). */
  metrics?: () => string;
  /** Hears of every request refused by the per-address limit (the audit log records them). */
  onRateLimited?: (peer: string) => void;
  /** Hears of every request refused for its credential (the audit log records them). */
  onAuthFailure?: (failure: AuthFailure) => void;
  /**
   * Whether the gateway can serve calls now, for `/readyz` (unauthenticated,
   * like `/healthz`: a load balancer polls it). Always ready when absent.
   */
  ready?: () => { ok: true } | { ok: false; reason: string };
  /** Extra authenticated routes, mounted at their paths (e.g. `/approvals`). */
  routes?: Readonly<Record<string, Hono<GatewayEnv>>>;
}

/**
 * Builds the gateway's HTTP app.
 *
 * @param options Its parts.
 * @returns The Hono app; serve it with `Deno.serve`, passing the connection info as env.
 */
export function createApp(options: AppOptions): Hono<GatewayEnv> {
  const app = new Hono<GatewayEnv>();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", (c) => {
    const ready = options.ready?.() ?? { ok: true };
    return ready.ok
      ? c.json({ status: "ready" })
      : c.json({ status: "not_ready", reason: ready.reason }, 503);
  });
  app.use("*", hostOriginGuard(options.hosts));
  if (options.limiter) {
    app.use("*", rateLimit(options.limiter, { onLimited: options.onRateLimited }));
  }
  app.use(
    "*",
    bodyLimit({
      maxSize: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT,
      onError: (c) =>
        c.json({
          jsonrpc: "2.0",
          error: { code: -32600, message: "Request body too large" },
          id: null,
        }, 413),
    }),
  );
  for (const path of options.metadata?.paths ?? []) {
    app.get(path, (c) => c.json(options.metadata!.document));
  }
  const authn = "authenticator" in options.auth
    ? authenticate(options.auth.authenticator, { onFailure: options.onAuthFailure })
    : noAuthentication(options.auth.anonymous);
  // Every authenticated route meets the per-identity limit, charged right after authentication.
  const limitIdentity: MiddlewareHandler<GatewayEnv>[] = options.identityLimiter
    ? [rateLimitByIdentity(options.identityLimiter, { onLimited: options.onRateLimited })]
    : [];
  app.use("/mcp", authn, ...limitIdentity);
  app.on(["GET", "POST", "DELETE"], "/mcp", options.sessions.handler);
  // Any other method on the MCP endpoint is 405 with Allow (RFC 9110), as the
  // SDK's transport answers it, not the 404 of a path that does not exist.
  app.all("/mcp", (c) =>
    c.json(
      {
        jsonrpc: "2.0",
        error: { code: -32000, message: "Method not allowed: use GET, POST or DELETE" },
        id: null,
      },
      405,
      { Allow: "GET, POST, DELETE" },
    ));
  if (options.metrics) {
    const render = options.metrics;
    app.get(
      "/metrics",
      authn,
      ...limitIdentity,
      (c) => c.body(render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }),
    );
  }
  for (const [path, routes] of Object.entries(options.routes ?? {})) {
    // `PATH/*` matches PATH itself too: one registration, or each request would be checked twice.
    app.use(`${path}/*`, authn, ...limitIdentity);
    app.route(path, routes);
  }
  app.notFound((c) => c.json({ error: "not_found" }, 404));
  app.onError((error, c) => {
    console.error(error);
    return c.json(
      { error: "internal", error_description: "The gateway failed on this request" },
      500,
    );
  });
  return app;
}
