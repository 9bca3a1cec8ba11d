/**
 * The proxmox worker kind: Proxmox VE API targets run in their own worker,
 * under `net` for exactly their host:port list, on the HTTP worker's
 * machinery (HTTP/1.1 client, address guard, credential injection, caps).
 * The API token goes in as `Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`;
 * the secret and the whole header value are scrubbed from every result.
 *
 * @module
 */
import type { ProxmoxTarget } from "../config/targets_schema.ts";
import type { ProxmoxTargetSettings, ProxmoxWorkerConfig } from "./workers/_pve_run.ts";
import { NO_PERMISSIONS, type WorkerKind } from "./worker_kind.ts";

export type { ProxmoxTargetSettings, ProxmoxWorkerConfig };

function endpoint(target: ProxmoxTarget): { url: URL; hostname: string; port: number } {
  const url = new URL(target.connection.base_url);
  const hostname = url.hostname.replace(/^\[(.*)\]$/, "$1");
  return { url, hostname, port: url.port === "" ? 443 : Number(url.port) };
}

/**
 * The `net` permission entry for a proxmox target.
 *
 * @param target A proxmox target.
 * @returns E.g. `"pve1.lan:8006"` or `"[::1]:8006"`.
 */
export function proxmoxNetAddress(target: ProxmoxTarget): string {
  const { url, port } = endpoint(target);
  return `${url.hostname}:${port}`;
}

/**
 * The header value that authenticates an API token.
 *
 * @param tokenId `USER@REALM!TOKENID`.
 * @param secret The token's secret.
 * @returns `PVEAPIToken=USER@REALM!TOKENID=SECRET`.
 */
export function pveTokenHeader(tokenId: string, secret: string): string {
  return `PVEAPIToken=${tokenId}=${secret}`;
}

/**
 * One target's worker settings, secrets revealed. Call only to build the
 * `configure` message.
 *
 * @param target A proxmox target with resolved secrets.
 * @returns The settings.
 * @throws {Error} When a secret reference has not been resolved.
 */
export function proxmoxTargetSettings(target: ProxmoxTarget): ProxmoxTargetSettings {
  const { url, hostname, port } = endpoint(target);
  const c = target.connection;
  const secret = c.token_secret.reveal();
  const header = pveTokenHeader(c.token_id, secret);
  return {
    id: target.id,
    scheme: "https",
    hostname,
    port,
    basePath: url.pathname.replace(/\/+$/, ""),
    hostHeader: port === 443 ? url.hostname : `${url.hostname}:${port}`,
    methods: ["GET", "POST", "PUT", "DELETE"],
    // Operations build every path from validated values; the worker checks each for dot
    // segments and escapes like any HTTP path.
    paths: ["/**"],
    headers: { accept: "application/json" },
    auth: { name: "authorization", value: header },
    secrets: [secret, header],
    caCerts: c.tls.ca ? [c.tls.ca.reveal()] : [],
    ...(c.tls.fingerprint ? { pinSha256: c.tls.fingerprint } : {}),
    redirects: "none",
    allowAddresses: [...c.allow_addresses],
    responseCapBytes: c.response_cap_bytes,
    nodes: [...c.nodes],
  };
}

/** The proxmox worker: `net` for the targets' host:port list only. */
export const PROXMOX_KIND: WorkerKind<ProxmoxTarget> = Object.freeze({
  type: "proxmox",
  module: new URL("./workers/proxmox.ts", import.meta.url),
  permissions(targets: readonly ProxmoxTarget[]): Deno.PermissionOptionsObject {
    const hosts = [...new Set(targets.map(proxmoxNetAddress))];
    return { ...NO_PERMISSIONS, net: hosts.length > 0 ? hosts : false };
  },
  config(targets: readonly ProxmoxTarget[]): ProxmoxWorkerConfig {
    return { targets: targets.map(proxmoxTargetSettings) };
  },
});
