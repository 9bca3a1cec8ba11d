/**
 * The docker worker kind: talks to Docker Engine APIs over unix sockets and
 * TCP with mutual TLS, and may open nothing else.
 *
 * @module
 */
import type { DockerTarget } from "../config/targets_schema.ts";
import type { DockerEndpoint, DockerWorkerConfig } from "./workers/_docker_client.ts";
import { NO_PERMISSIONS, type WorkerKind } from "./worker_kind.ts";

export type { DockerEndpoint, DockerWorkerConfig };

/**
 * Splits a `tcp://HOST:PORT` engine address into host and port.
 *
 * @param address A validated docker `host` value, e.g. `tcp://127.0.0.1:2376` or `tcp://[::1]:2376`.
 * @returns The host (IPv6 without brackets) and the port.
 * @throws {RangeError} When the address is not `tcp://HOST:PORT` with a port from 1 to 65535.
 */
export function parseEngineAddress(address: string): { hostname: string; port: number } {
  const match = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[2]) : 0;
  if (!match || port < 1 || port > 65535) {
    throw new RangeError(
      `Invalid docker host ${JSON.stringify(address)}: expected "tcp://HOST:PORT"`,
    );
  }
  return { hostname: match[1].replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * The endpoint a worker connects to for one target, secrets revealed.
 *
 * @param target A docker target with resolved secrets.
 * @returns The unix or TLS endpoint.
 * @throws {Error} When a TLS secret has not been resolved.
 */
export function dockerEndpoint(target: DockerTarget): DockerEndpoint {
  const connection = target.connection;
  if ("socket" in connection) return { transport: "unix", path: connection.socket };
  const { hostname, port } = parseEngineAddress(connection.host);
  return {
    transport: "tls",
    hostname,
    port,
    caCert: connection.tls.ca.reveal(),
    cert: connection.tls.cert.reveal(),
    key: connection.tls.key.reveal(),
  };
}

/**
 * The Deno permissions for a docker worker serving these targets: `read`,
 * `write` and `net` (`unix:PATH`, which Deno 2.9 also demands for unix
 * sockets) for exactly the socket paths, `net` for exactly the TCP engines'
 * `host:port`; every other key denied.
 *
 * @param targets The docker targets.
 * @returns The permission set.
 */
export function dockerPermissions(targets: readonly DockerTarget[]): Deno.PermissionOptionsObject {
  const sockets = new Set<string>();
  const engines = new Set<string>();
  for (const target of targets) {
    const connection = target.connection;
    if ("socket" in connection) sockets.add(connection.socket);
    else {
      const { hostname, port } = parseEngineAddress(connection.host);
      engines.add(`${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`);
    }
  }
  const paths = [...sockets];
  const net = [...paths.map((p) => `unix:${p}`), ...engines];
  return {
    ...NO_PERMISSIONS,
    read: paths.length > 0 ? paths : false,
    write: paths.length > 0 ? paths : false,
    net: net.length > 0 ? net : false,
  };
}

/** The docker worker: engine sockets and TCP engines only. */
export const DOCKER_KIND: WorkerKind<DockerTarget> = {
  type: "docker",
  module: new URL("./workers/docker.ts", import.meta.url),
  permissions: (targets) => dockerPermissions(targets),
  config(targets): DockerWorkerConfig {
    return { targets: Object.fromEntries(targets.map((t) => [t.id, dockerEndpoint(t)])) };
  },
};
