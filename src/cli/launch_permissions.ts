/**
 * The gateway process's own Deno permission set, derived from its
 * configuration: read and write its state directory, read its configuration,
 * secret files and worker modules, the union of what its executor workers are
 * granted (a worker can never exceed its parent), the environment variables it
 * reads, and the network addresses it listens on or calls itself. Nothing
 * else: no other file, no other variable, no remote code.
 *
 * To grant the gateway something new, add it here, in the section its kind
 * belongs to (state files need nothing: the whole state directory is
 * granted). Pure apart from the workers' program lookup (`read` on
 * {@linkcode SAFE_PATH}).
 *
 * @module
 */
import { syslogBindAddress } from "../audit/syslog.ts";
import { findSecrets, type Secret } from "../config/secret.ts";
import type { PolicyFile } from "../config/policy_schema.ts";
import type { Target } from "../config/targets_schema.ts";
import type { WorkerContext, WorkerKind } from "../exec/worker_kind.ts";

/** One Deno permission as a list of entries; an empty list is denied. */
export interface PermissionLists {
  read: string[];
  write: string[];
  net: string[];
  env: string[];
  run: string[];
  sys: string[];
}

/** Everything the permission set is derived from. */
export interface PermissionInput {
  /** Absolute state directory. */
  stateDir: string;
  /** Absolute configuration files read at start (targets, policy, or the shipped default). */
  configFiles: string[];
  /** The targets, as loaded (secrets need not be resolved). */
  targets: readonly Target[];
  /** The policy, as loaded (secrets need not be resolved). */
  policy: PolicyFile;
  /** The worker kinds the executor host starts. */
  kinds: readonly WorkerKind[];
  /** What the workers are told beyond the targets (the local programs). */
  context: WorkerContext;
  /**
   * Absolute directory of the gateway's own modules: a worker loads its module
   * graph at run time, and every file in it needs the parent's `read`.
   */
  sourceDir: string;
  /** The HTTP listen address, when serving HTTP. */
  listen?: { hostname: string; port: number };
  /**
   * Unix sockets the gateway itself listens on or connects to, outside the
   * state directory's files (Deno needs `net: unix:PATH` for each, by exact
   * path, as well as read and write).
   */
  sockets?: readonly string[];
  /**
   * The shared state database (`--state-url`): its `host:port`, or its unix
   * socket (granted like `sockets`), and the file a `file:` reference is read from.
   */
  stateDatabase?: { address?: string; socket?: string; secretFile?: string };
  /** More secret references read at start: the catalog's (file_write's and stacks' templates). */
  secrets?: readonly Secret[];
}

/**
 * Environment variables every gateway may read: its own settings (any
 * `TAILOPS_` name, so new settings need no change here), where the default
 * state directory is, and who the stdio user is.
 */
export const GATEWAY_ENV: readonly string[] = Object.freeze([
  "TAILOPS_*",
  "HOME",
  "XDG_STATE_HOME",
  "USER",
  "LOGNAME",
]);

/** OS information the gateway reads: its uid (stdio identity fallback, state dir checks). */
export const GATEWAY_SYS: readonly string[] = Object.freeze(["uid"]);

/** Keys whose http(s) values the gateway calls itself (outside `rules`). */
const URL_KEY = /(?:^|_)(?:url|uri|endpoint|issuer|webhook)$/;

/** Keys whose absolute-path values are unix sockets the gateway opens (outside `rules`). */
const SOCKET_KEY = /(?:^|_)(?:socket|syslog)$/;

/**
 * `host:port` for Deno's net permission from an http(s) URL.
 *
 * @param url The URL.
 * @returns `host:port`, with IPv6 in brackets and the scheme's default port filled in.
 */
export function urlNetAddress(url: URL): string {
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${url.hostname}:${port}`;
}

/**
 * Every http(s) URL the policy names for the gateway itself to call (OIDC
 * issuers, JWKS, introspection endpoints, webhooks), found by key name so a
 * new URL setting is covered without a change here. Rules are skipped: their
 * values are limits on arguments, not addresses.
 *
 * @param policy The policy.
 * @returns The URLs.
 */
export function policyUrls(policy: PolicyFile): URL[] {
  return policyAddresses(policy).urls;
}

/**
 * Every address the policy names for the gateway itself: http(s) URLs under
 * URL-like keys (see {@linkcode policyUrls}) and absolute paths under socket
 * keys (`socket`, `*_socket`, `syslog`), so a new setting of either kind is
 * covered without a change here. Rules are skipped.
 *
 * @param policy The policy.
 * @returns The URLs and the socket paths.
 */
export function policyAddresses(policy: PolicyFile): { urls: URL[]; sockets: string[] } {
  const urls: URL[] = [];
  const sockets: string[] = [];
  const walk = (node: unknown, key: string) => {
    if (typeof node === "string") {
      if (URL_KEY.test(key) && /^https?:\/\//i.test(node)) {
        try {
          urls.push(new URL(node));
        } catch {
          // Not a URL after all: nothing to call.
        }
      } else if (SOCKET_KEY.test(key) && node.startsWith("/")) {
        sockets.push(node);
      }
    } else if (Array.isArray(node)) {
      for (const item of node) walk(item, key);
    } else if (node !== null && typeof node === "object") {
      for (const [k, v] of Object.entries(node)) if (k !== "rules") walk(v, k);
    }
  };
  walk(policy, "");
  return { urls, sockets };
}

function entries(
  value: Deno.PermissionOptionsObject[keyof Deno.PermissionOptionsObject],
): string[] {
  if (value === undefined || value === false || value === "inherit") return [];
  if (value === true) {
    throw new RangeError(
      "Cannot derive the gateway's permissions: a worker kind asks for a global grant, expected a list",
    );
  }
  return (value as (string | URL)[]).map((v) => v instanceof URL ? v.pathname : String(v));
}

/**
 * The gateway's permission set for one configuration.
 *
 * @param input State directory, configuration, worker kinds, listen address.
 * @returns Sorted, de-duplicated lists per permission.
 * @throws {RangeError} When a worker kind asks for a global grant.
 */
export function gatewayPermissions(input: PermissionInput): PermissionLists {
  const read = new Set<string>([input.stateDir, ...input.configFiles, input.sourceDir]);
  const write = new Set<string>([input.stateDir]);
  const net = new Set<string>();
  const env = new Set<string>(GATEWAY_ENV);
  const run = new Set<string>();
  const sys = new Set<string>(GATEWAY_SYS);

  // Secret references: `${NAME}` is read from the environment, `file:` from disk.
  const found = findSecrets([input.targets, input.policy]).map(({ secret }) => secret);
  for (const secret of [...found, ...(input.secrets ?? [])]) {
    if (secret.source.startsWith("env:")) env.add(secret.source.slice(4));
    else read.add(secret.source.slice(5));
  }
  // Files the gateway reads for its workers (their content is sent by message).
  for (const target of input.targets) {
    if (target.type === "ssh" && target.connection.known_hosts) {
      read.add(target.connection.known_hosts);
    }
  }
  // A worker can never exceed its parent: grant the union of the workers' sets.
  for (const kind of input.kinds) {
    const targets = input.targets.filter((t) => t.type === kind.type);
    if (targets.length === 0) continue;
    const granted = kind.permissions(targets as never, input.context);
    for (const path of entries(granted.read)) read.add(path);
    for (const path of entries(granted.write)) write.add(path);
    for (const address of entries(granted.net)) net.add(address);
    for (const name of entries(granted.env)) env.add(name);
    for (const api of entries(granted.sys)) sys.add(api);
    for (const program of entries(granted.run)) {
      run.add(program);
      // The host resolves each program itself before it starts the worker.
      read.add(program);
    }
  }
  // The network the gateway uses itself: its listener and the URLs in its policy.
  if (input.listen) {
    net.add(listenAddress(input.listen));
    // The listener keeps descriptor headroom from the limit it reads here.
    read.add("/proc/self/limits");
  }
  const named = policyAddresses(input.policy);
  // Checkpoints shipped to syslog go by UDP to HOST:PORT (the schema checked its form).
  const syslog = input.policy.audit?.ship?.syslog?.address;
  if (syslog) net.add(syslog).add(syslogBindAddress(syslog));
  for (const url of named.urls) net.add(urlNetAddress(url));
  const db = input.stateDatabase;
  if (db?.address) net.add(db.address);
  if (db?.secretFile) read.add(db.secretFile);
  const dbSocket = db?.socket ? [db.socket] : [];
  for (const socket of [...named.sockets, ...(input.sockets ?? []), ...dbSocket]) {
    read.add(socket);
    write.add(socket);
    net.add(`unix:${socket}`);
  }

  const sorted = (set: Set<string>) => [...set].sort();
  return {
    read: sorted(read),
    write: sorted(write),
    net: sorted(net),
    env: sorted(env),
    run: sorted(run),
    sys: sorted(sys),
  };
}

function listenAddress(listen: { hostname: string; port: number }): string {
  const host = listen.hostname.includes(":") ? `[${listen.hostname}]` : listen.hostname;
  return `${host}:${listen.port}`;
}

/**
 * The `deno run` flags that grant exactly a permission set, deny the rest and
 * keep every module local: no remote modules, no npm download, no lockfile
 * change, no prompt; environment variables outside the set read as unset.
 *
 * @param set The permission lists.
 * @returns The flags.
 * @throws {RangeError} When an entry contains a comma (Deno's list separator).
 */
export function permissionFlags(set: PermissionLists): string[] {
  const flags = ["--no-prompt", "--no-remote", "--cached-only", "--frozen", "--ignore-env"];
  for (const key of ["read", "write", "net", "env", "run", "sys"] as const) {
    const list = set[key];
    for (const entry of list) {
      if (entry.includes(",")) {
        throw new RangeError(
          `Cannot grant ${key} access to ${
            JSON.stringify(entry)
          }: expected no comma in a path or name (Deno separates entries with commas)`,
        );
      }
    }
    if (list.length > 0) flags.push(`--allow-${key}=${list.join(",")}`);
  }
  return flags;
}

/**
 * The entries of a permission set this process does not hold: what a
 * configuration reloaded at run time would need beyond the grants the process
 * started with (Deno cannot widen a running process's permissions, so such a
 * reload needs a restart). Needs no permission itself.
 *
 * @param set The permission lists a configuration needs.
 * @returns `kind:entry` for each entry not granted, e.g. `net:db-2.example.com:22`.
 *
 * @example
 * ```ts
 * const missing = ungranted(gatewayPermissions(nextConfig));
 * if (missing.length > 0) log.warn("Restart to apply: needs {missing}", { missing });
 * ```
 */
export function ungranted(set: PermissionLists): string[] {
  const missing: string[] = [];
  const check = (
    kind: keyof PermissionLists,
    entry: string,
    descriptor: Deno.PermissionDescriptor,
  ) => {
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      missing.push(`${kind}:${entry}`);
    }
  };
  for (const path of set.read) check("read", path, { name: "read", path });
  for (const path of set.write) check("write", path, { name: "write", path });
  for (const host of set.net) check("net", host, { name: "net", host });
  for (const variable of set.env) {
    // A wildcard grant is checked through one name it covers.
    const name = variable.endsWith("*") ? `${variable.slice(0, -1)}X` : variable;
    check("env", variable, { name: "env", variable: name });
  }
  for (const command of set.run) check("run", command, { name: "run", command });
  for (const kind of set.sys) {
    check("sys", kind, { name: "sys", kind: kind as Deno.SysPermissionDescriptor["kind"] });
  }
  return missing;
}
