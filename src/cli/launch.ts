/**
 * `tailops launch serve ...`: starts the gateway under the narrowest Deno
 * permission set its configuration allows. Reads the configuration (without
 * resolving secrets), derives the set ({@linkcode gatewayPermissions}), and
 * runs `deno run <exact grants> main.ts serve ...` as a child with the same
 * stdin, stdout and stderr, forwarding SIGINT, SIGTERM and SIGHUP, and exits
 * with the child's code. `--print` prints the command instead (for a systemd
 * unit's ExecStart).
 *
 * Needs `read` for the configuration, `env` for the `TAILOPS_*` settings and
 * the default state directory, and `run` for `deno` (the `launch` set in
 * deno.json).
 *
 * @module
 */
import { DEFAULT_POLICY_URL, loadPolicy, loadTargets } from "../config/load.ts";
import { ConfigError } from "../config/errors.ts";
import { LOCAL_KIND } from "../exec/local_kind.ts";
import { SSH_KIND } from "../exec/ssh_kind.ts";
import { DOCKER_KIND } from "../exec/docker_kind.ts";
import { HTTP_KIND } from "../exec/http_kind.ts";
import { PROXMOX_KIND } from "../exec/proxmox_kind.ts";
import type { WorkerKind } from "../exec/worker_kind.ts";
import { localPrograms } from "../ops/catalog.ts";
import { catalogSecrets, loadCatalog } from "./catalog.ts";
import { loadTemplates } from "../config/templates_load.ts";
import { CliError } from "./errors.ts";
import { gatewayPermissions, permissionFlags } from "./launch_permissions.ts";
import { readStateUrl } from "../state/state_url.ts";
import { parseServeOptions } from "./serve_options.ts";
import { tailscaleSocketPath } from "../http/tailscale_socket.ts";

/** `launch` usage. */
export const LAUNCH_HELP = `Usage: tailops launch [--print] serve [SERVE FLAGS]

Starts \`tailops serve\` under the narrowest Deno permission set its
configuration allows: read and write only the state directory; read only the
configuration, secret files, worker modules, file roots and the local programs;
the network only for the listen address, the targets and the URLs in the policy;
only the TAILOPS_* settings, HOME, XDG_STATE_HOME, USER, LOGNAME and the
environment variables the configuration names; run only the local programs, by
absolute path from a fixed system PATH; no remote or uncached module.

Options:
  --print   print the deno command instead of running it`;

/** The signals the launcher passes on to the gateway. */
const FORWARDED: readonly Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];

/** The worker kinds the gateway starts (see `WORKER_KINDS` in gateway.ts). */
const KINDS: readonly WorkerKind[] = [
  LOCAL_KIND,
  SSH_KIND,
  DOCKER_KIND,
  HTTP_KIND,
  PROXMOX_KIND,
];

const REPO = new URL("../../", import.meta.url);

/**
 * Runtime flags the gateway always runs with (README, "young-generation cap"):
 * young-generation semi-spaces of at most 2 MB, and V8's memory reducer
 * (which gives an idle heap's free pages back) armed 2 s after garbage is
 * seen instead of 30 s: loading 10,000 targets left ~35 MB for 30 s.
 */
export const GATEWAY_V8_FLAGS =
  "--v8-flags=--max-semi-space-size=2,--gc-memory-reducer-start-delay-ms=2000";

function absolute(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/**
 * The `deno` arguments that run `main.ts serve ...serveArgs` under the
 * permission set derived from that configuration.
 *
 * Needs `read` for the configuration files and `env` for the `TAILOPS_*`
 * settings the serve flags fall back to.
 *
 * @param serveArgs Arguments after `serve`, passed to the gateway unchanged.
 * @returns The arguments after `deno`.
 * @throws {CliError} On bad serve flags or configuration that does not load.
 */
export async function launchArgs(serveArgs: string[]): Promise<string[]> {
  const options = parseServeOptions(serveArgs);
  if (options === "help") {
    throw new CliError("launch serve --help: run `tailops serve --help` for the serve flags");
  }
  // --operations and --stacks win over their variables (parseServeOptions read both).
  const operator = [options.operationsDir ?? null, options.stacksDir ?? null];
  let targets, policy, catalog, templates;
  try {
    targets = await loadTargets(options.targetsFile, { resolveSecrets: false });
    policy = await loadPolicy(options.policyFile, { resolveSecrets: false });
    templates = options.templatesDir
      ? await loadTemplates(options.templatesDir, { resolveSecrets: false })
      : [];
    // Operator-defined operations and curated stacks name programs and files too.
    catalog = await loadCatalog(operator[0], operator[1], { templates, resolveSecrets: false });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 1);
    throw error;
  }
  const configFiles = [
    options.targetsFile ? absolute(options.targetsFile) : undefined,
    options.policyFile ? absolute(options.policyFile) : DEFAULT_POLICY_URL.pathname,
    ...[...operator, options.templatesDir].map((dir) => dir ? absolute(dir) : undefined),
  ].filter((f): f is string => f !== undefined);
  const localCapabilities = new Set(
    targets.targets.filter((t) => t.type === "local").flatMap((t) => t.capabilities),
  );
  const stateDatabase = await stateDatabaseGrants(options.stateUrl);
  const set = gatewayPermissions({
    stateDatabase,
    secrets: catalogSecrets(catalog),
    stateDir: absolute(options.stateDir),
    configFiles,
    targets: targets.targets,
    policy: policy.policy,
    kinds: KINDS,
    context: { programs: localPrograms(catalog, localCapabilities) },
    sourceDir: new URL("src/", REPO).pathname,
    listen: options.transport === "http" ? options.listen : undefined,
    sockets: [
      ...optionSockets(options),
      // The private socket `tailscale serve` proxies to (HTTP only, when enabled).
      ...(options.transport === "http" && !options.noAuth && policy.policy.auth?.tailscale.enabled
        ? [tailscaleSocketPath(absolute(options.stateDir))]
        : []),
    ],
  });
  let flags: string[];
  try {
    flags = permissionFlags(set);
  } catch (error) {
    throw new CliError((error as Error).message, 1);
  }
  return [
    "run",
    ...flags,
    `--config=${new URL("deno.json", REPO).pathname}`,
    GATEWAY_V8_FLAGS,
    new URL("main.ts", REPO).pathname,
    "serve",
    ...serveArgs,
  ];
}

/**
 * Makes sure every module the gateway and its workers load is in Deno's
 * cache, at the versions deno.lock pins: the gateway itself runs with
 * `--cached-only`, so on a fresh machine this is where packages are
 * downloaded (as `deno task start` always did), and never later.
 *
 * Needs `run` for `deno`.
 *
 * @throws {CliError} When the modules cannot be cached.
 */
async function cacheModules(): Promise<void> {
  const out = await new Deno.Command("deno", {
    args: [
      "install",
      "--quiet",
      "--frozen",
      `--config=${new URL("deno.json", REPO).pathname}`,
      "--entrypoint",
      new URL("main.ts", REPO).pathname,
      ...KINDS.map((kind) => kind.module.pathname),
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    const lines = new TextDecoder().decode(out.stderr).trim().split("\n");
    throw new CliError(
      `Cannot cache the gateway's modules: ${lines.at(-1) ?? "deno install failed"}`,
      1,
    );
  }
}

/**
 * Unix socket paths among the serve options (any option whose name ends in
 * `socket`/`Socket`), so a serve flag that names a socket is granted without
 * a change here.
 */
/**
 * What the gateway needs to reach its shared state database: the address
 * comes from the URL, so a secret reference is resolved here (the launcher
 * reads files and `TAILOPS_*` variables; the password is not kept).
 */
async function stateDatabaseGrants(
  stateUrl: string | undefined,
): Promise<{ address?: string; socket?: string; secretFile?: string } | undefined> {
  if (stateUrl === undefined || stateUrl === "") return undefined;
  let target;
  try {
    target = await readStateUrl(stateUrl);
  } catch (error) {
    throw new CliError(
      `Cannot derive the shared state database's address from --state-url: ${
        (error as Error).message
      } (the launcher reads file: references and TAILOPS_* variables)`,
      1,
    );
  }
  const secretFile = stateUrl.startsWith("file:") ? stateUrl.slice(5) : undefined;
  if (target.host.startsWith("/")) {
    return { socket: `${target.host}/.s.PGSQL.${target.port}`, secretFile };
  }
  const host = target.host.includes(":") ? `[${target.host}]` : target.host;
  return { address: `${host}:${target.port}`, secretFile };
}

function optionSockets(options: object): string[] {
  return Object.entries(options)
    .filter(([key, value]) => /socket$/i.test(key) && typeof value === "string")
    .map(([, value]) => absolute(value as string));
}

function shellQuote(arg: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * Runs `tailops launch`.
 *
 * Needs `run` for `deno` (resolved from PATH, as `deno task` does).
 *
 * @param args Arguments after `launch`.
 * @returns The gateway's exit code (or 0 after `--print`).
 * @throws {CliError} On bad flags or unusable configuration.
 */
export async function runLaunch(args: string[]): Promise<number> {
  const print = args[0] === "--print";
  const rest = print ? args.slice(1) : args;
  if (rest[0] === "--help" || rest[0] === "-h" || args.length === 0) {
    console.log(LAUNCH_HELP);
    return args.length === 0 ? 2 : 0;
  }
  if (rest[0] !== "serve") {
    throw new CliError(
      `Unknown launch command ${
        JSON.stringify(rest[0])
      }: expected serve (other commands run as they are)`,
    );
  }
  const denoArgs = await launchArgs(rest.slice(1));
  if (print) {
    console.log(["deno", ...denoArgs].map(shellQuote).join(" "));
    return 0;
  }
  await cacheModules();
  // Its own process group: a terminal's Ctrl-C reaches the launcher alone,
  // which passes it on once (the gateway may treat a second SIGINT as "now").
  const child = new Deno.Command("deno", {
    args: denoArgs,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
    detached: true,
  }).spawn();
  const forward = FORWARDED.map((signal) => {
    const handler = () => {
      try {
        child.kill(signal);
      } catch {
        // Already gone.
      }
    };
    Deno.addSignalListener(signal, handler);
    return () => Deno.removeSignalListener(signal, handler);
  });
  try {
    const status = await child.status;
    return status.signal ? 128 + signalNumber(status.signal) : status.code;
  } finally {
    for (const stop of forward) stop();
  }
}

function signalNumber(signal: Deno.Signal): number {
  return { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }[signal as string] ?? 1;
}
