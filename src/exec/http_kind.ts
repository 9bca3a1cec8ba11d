/**
 * The HTTP worker kind: `net` for exactly the HTTP targets' host:port list,
 * every other permission denied; configuration with credentials and CAs
 * revealed, sent by message.
 *
 * Also re-exports the request rules the worker enforces, so that plan
 * builders can refuse the same requests before anything runs.
 *
 * @module
 */
import type { HttpTarget } from "../config/targets_schema.ts";
import type { HttpTargetSettings, HttpWorkerConfig } from "./workers/_http_config.ts";
import { NO_PERMISSIONS, type WorkerKind } from "./worker_kind.ts";

export { REQUEST_HEADER_ALLOWLIST, RESPONSE_HEADER_ALLOWLIST } from "./workers/_http_config.ts";
export type { HttpTargetSettings, HttpWorkerConfig } from "./workers/_http_config.ts";
export {
  HTTP_METHODS,
  type HttpMethod,
  pathProblem,
  requestProblem,
} from "./workers/_http_paths.ts";

const DEFAULT_PORTS = { "http:": 80, "https:": 443 } as const;

function endpoint(target: HttpTarget): { url: URL; hostname: string; port: number } {
  const url = new URL(target.connection.base_url);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = url.port === ""
    ? DEFAULT_PORTS[url.protocol as keyof typeof DEFAULT_PORTS]
    : Number(url.port);
  return { url, hostname, port };
}

/**
 * The `net` permission entry for a target: `host:port` with the default port
 * made explicit and IPv6 hosts in brackets.
 *
 * @param target An HTTP target.
 * @returns E.g. `"api.example.com:443"` or `"[::1]:8080"`.
 */
export function httpNetAddress(target: HttpTarget): string {
  const { url, port } = endpoint(target);
  return `${url.hostname}:${port}`;
}

function base64(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function credential(target: HttpTarget): Pick<HttpTargetSettings, "auth" | "secrets"> {
  const auth = target.connection.auth;
  if (!auth) return { auth: null, secrets: [] };
  if ("bearer" in auth) {
    const token = auth.bearer.reveal();
    return { auth: { name: "authorization", value: `Bearer ${token}` }, secrets: [token] };
  }
  if ("basic" in auth) {
    const password = auth.basic.password.reveal();
    const encoded = base64(`${auth.basic.username}:${password}`);
    return {
      auth: { name: "authorization", value: `Basic ${encoded}` },
      secrets: [password, encoded],
    };
  }
  const value = auth.header.value.reveal();
  return { auth: { name: auth.header.name.toLowerCase(), value }, secrets: [value] };
}

/**
 * One target's worker settings, secrets revealed. Call only to build the
 * `configure` message.
 *
 * @param target An HTTP target with resolved secrets.
 * @returns The settings.
 * @throws {Error} When a secret reference has not been resolved.
 */
export function httpTargetSettings(target: HttpTarget): HttpTargetSettings {
  const { url, hostname, port } = endpoint(target);
  const c = target.connection;
  const defaultPort = DEFAULT_PORTS[url.protocol as keyof typeof DEFAULT_PORTS] === port;
  return {
    id: target.id,
    scheme: url.protocol === "https:" ? "https" : "http",
    hostname,
    port,
    basePath: url.pathname.replace(/\/+$/, ""),
    hostHeader: defaultPort ? url.hostname : `${url.hostname}:${port}`,
    methods: [...c.methods],
    paths: [...c.paths],
    headers: Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k.toLowerCase(), v])),
    ...credential(target),
    caCerts: c.tls.ca ? [c.tls.ca.reveal()] : [],
    redirects: c.redirects,
    allowAddresses: [...c.allow_addresses],
    responseCapBytes: c.response_cap_bytes,
  };
}

/** The HTTP worker: `net` for the targets' host:port list only. */
export const HTTP_KIND: WorkerKind<HttpTarget> = Object.freeze({
  type: "http",
  module: new URL("./workers/http.ts", import.meta.url),
  permissions(targets: readonly HttpTarget[]): Deno.PermissionOptionsObject {
    const hosts = [...new Set(targets.map(httpNetAddress))];
    return { ...NO_PERMISSIONS, net: hosts.length > 0 ? hosts : false };
  },
  config(targets: readonly HttpTarget[]): HttpWorkerConfig {
    return { targets: targets.map(httpTargetSettings) };
  },
});
