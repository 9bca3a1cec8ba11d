/**
 * The SSH worker kind: `net` for exactly the SSH targets' `host:port`
 * (bastions are SSH targets too, so they are included) and nothing else,
 * with key material, passphrases, passwords and known_hosts content read
 * here on the host side and sent by message.
 *
 * @module
 */
import type { SshTarget } from "../config/targets_schema.ts";
import type {
  KnownHostsFile,
  SharedText,
  SshTargetConfig,
  SshWorkerConfig,
} from "./workers/_ssh_config.ts";
import { NO_PERMISSIONS, type WorkerKind } from "./worker_kind.ts";
import { describeReadError } from "../config/read_error.ts";

export type { SshTargetConfig, SshWorkerConfig } from "./workers/_ssh_config.ts";

/**
 * The `host:port` entry of Deno's net permission for a target.
 *
 * @param host Host name or address (IPv6 without brackets).
 * @param port TCP port.
 * @returns `host:port`, or `[v6]:port`.
 */
export function netAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function readKnownHosts(path: string): KnownHostsFile {
  try {
    return { text: Deno.readTextFileSync(path) };
  } catch (error) {
    return {
      error: `Cannot read known_hosts file ${JSON.stringify(path)}: ${describeReadError(error)}`,
    };
  }
}

/** What the targets of one configuration share, each sent once. */
export interface SharedTexts {
  /** known_hosts files by path. */
  readonly knownHostsFiles: Map<string, KnownHostsFile>;
  /** Private keys by text. */
  readonly keys: Map<string, SharedText>;
}

/**
 * Builds one target's worker settings, secrets revealed.
 *
 * Needs `read` on the target's `known_hosts` file when one is configured.
 *
 * @param target A validated ssh target with resolved secrets.
 * @param shared Known_hosts files already read, by path, and private keys by
 *   text, shared across one configuration.
 * @returns Its connection settings.
 * @throws {Error} When a secret has not been resolved.
 */
export function sshTargetConfig(
  target: SshTarget,
  shared: SharedTexts = { knownHostsFiles: new Map(), keys: new Map() },
): SshTargetConfig {
  const c = target.connection;
  const knownHosts = (path: string) => {
    let read = shared.knownHostsFiles.get(path);
    if (!read) shared.knownHostsFiles.set(path, read = readKnownHosts(path));
    return read;
  };
  const key = (text: string) => {
    let one = shared.keys.get(text);
    if (!one) shared.keys.set(text, one = { text });
    return one;
  };
  const privateKey = c.key?.reveal();
  return {
    id: target.id,
    host: c.host,
    port: c.port,
    user: c.user,
    privateKey: privateKey === undefined ? undefined : key(privateKey),
    passphrase: c.passphrase?.reveal(),
    password: c.password?.reveal(),
    agent: c.agent,
    hostKey: c.host_key,
    ...(c.known_hosts !== undefined && c.host_key === undefined
      ? { knownHostsFile: knownHosts(c.known_hosts) }
      : {}),
    via: c.via,
    keepaliveMs: c.keepalive_ms,
    idleCloseMs: c.idle_close_ms,
    maxChannels: c.max_channels,
    connectTimeoutMs: c.connect_timeout_ms,
    sudo: target.sudo,
  };
}

/**
 * The SSH worker. Permissions: `net` for each SSH target's `host:port` only.
 *
 * Trade-off: when any target configures `agent`, the worker also gets `read`,
 * `write` and `net` (`unix:PATH`, which Deno 2.9 also demands for unix
 * sockets) on exactly those socket paths. Whoever can talk to an agent can
 * ask it to sign for every key it holds, so a compromised worker could then
 * authenticate anywhere those keys are accepted (though it still can only
 * connect to the configured `host:port`s). Prefer `key` secrets; use an agent
 * only when keys must stay in it (hardware tokens).
 */
export const SSH_KIND: WorkerKind<SshTarget> = {
  type: "ssh",
  module: new URL("./workers/ssh.ts", import.meta.url),
  permissions(targets) {
    const agents = [...new Set(targets.flatMap((t) => t.connection.agent ?? []))];
    const net = [
      ...new Set(targets.map((t) => netAddress(t.connection.host, t.connection.port))),
      ...agents.map((path) => `unix:${path}`),
    ];
    return {
      ...NO_PERMISSIONS,
      net: net.length > 0 ? net : false,
      read: agents.length > 0 ? agents : false,
      write: agents.length > 0 ? agents : false,
    };
  },
  config(targets): SshWorkerConfig {
    // Each known_hosts file is read once, however many targets name it, and
    // each file and key crosses to the worker once (a message copies a string
    // per use but keeps an object's identity).
    const shared: SharedTexts = { knownHostsFiles: new Map(), keys: new Map() };
    return { targets: targets.map((t) => sshTargetConfig(t, shared)) };
  },
};
