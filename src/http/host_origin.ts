/**
 * DNS-rebinding protection: the `Host` header must name this gateway, and an
 * `Origin` header, when a browser sends one, must be an allowed origin.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";

/** Options for {@linkcode hostOriginGuard}. */
export interface HostOriginOptions {
  /** Accepted `Host` values, lowercase, with port when not default (`127.0.0.1:8080`). */
  allowedHosts: readonly string[];
  /** Accepted `Origin` values (`http://127.0.0.1:8080`). */
  allowedOrigins: readonly string[];
}

/**
 * The accepted hosts and origins for a listen address and optional public URL.
 *
 * @param listen Host and port the gateway listens on.
 * @param publicUrl The URL clients use, when it differs (a Tailscale name).
 * @returns Hosts and origins to accept.
 */
export function defaultHostsAndOrigins(
  listen: { hostname: string; port: number },
  publicUrl?: string,
): HostOriginOptions {
  const names = new Set([listen.hostname]);
  if (["127.0.0.1", "::1", "localhost"].includes(listen.hostname)) {
    ["127.0.0.1", "localhost", "[::1]"].forEach((n) => names.add(n));
  }
  const hosts = [...names].map((n) => (n.includes(":") && !n.startsWith("[") ? `[${n}]` : n))
    .map((n) => `${n}:${listen.port}`.toLowerCase());
  const origins = hosts.map((h) => `http://${h}`);
  if (publicUrl) {
    const url = new URL(publicUrl);
    hosts.push(url.host.toLowerCase());
    origins.push(url.origin.toLowerCase());
  }
  return { allowedHosts: hosts, allowedOrigins: origins };
}

function forbidden(message: string): Response {
  return Response.json({ error: "forbidden", error_description: message }, { status: 403 });
}

/**
 * Refuses requests whose `Host` or `Origin` is not this gateway's.
 *
 * @param options Accepted hosts and origins.
 * @returns The middleware.
 * @throws {TypeError} When no host is allowed (that would refuse everything).
 */
export function hostOriginGuard(options: HostOriginOptions): MiddlewareHandler {
  if (options.allowedHosts.length === 0) {
    throw new TypeError("Invalid host guard: expected at least one allowed host");
  }
  const hosts = new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  const origins = new Set(options.allowedOrigins.map((o) => o.toLowerCase()));
  return async function hostOriginCheck(c, next) {
    const host = c.req.header("host")?.toLowerCase();
    if (!host || !hosts.has(host)) {
      return forbidden(
        `Host ${
          JSON.stringify(host ?? "")
        } is not this gateway's: start it with --public-url URL (the address clients use) or --allowed-host ${
          host ? hostFlagValue(host) : "HOST:PORT"
        }`,
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && !origins.has(origin.toLowerCase())) {
      return forbidden(
        `Origin ${
          JSON.stringify(origin)
        } is not allowed: start the gateway with --allowed-origin ORIGIN (or --public-url URL) to allow a browser client there`,
      );
    }
    await next();
  };
}

/** A Host value as a flag value: printable, short, never an injected line. */
function hostFlagValue(host: string): string {
  return /^[A-Za-z0-9.:[\]-]{1,100}$/.test(host) ? host : "HOST:PORT";
}
