/**
 * `tailops ssh-keyscan TARGET|HOST:PORT`: prints an SSH server's host key
 * fingerprints so the operator can pin one (`host_key: SHA256:...`).
 * Nothing is trusted here; the keys are only shown.
 *
 * @module
 */
import { ConfigError } from "../config/errors.ts";
import { loadTargets } from "../config/load.ts";
import { scanHostKey } from "../exec/ssh_keyscan.ts";
import { SshError } from "../exec/workers/_ssh_errors.ts";
import { CliError } from "./errors.ts";
import { SSH_KEYSCAN_HELP } from "./help.ts";
import { parseFlags, stringOption } from "./options.ts";

/** What to scan: a target's address, or one given directly. */
interface ScanTarget {
  /** The name printed first on each line: the target id or `HOST:PORT`. */
  name: string;
  /** Whether `name` is a target id. */
  isTarget: boolean;
  host: string;
  port: number;
  /** The target's pinned fingerprint, if any. */
  pinned?: string;
  /** The bastion the target is reached through, if any. */
  via?: string;
  timeoutMs?: number;
}

/**
 * Parses `HOST:PORT` (IPv6 in brackets).
 *
 * @param text The argument.
 * @returns Host and port, or `undefined` when it is not of that form.
 */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  return m && port >= 1 && port <= 65535 ? { host: m[1] ?? m[2], port } : undefined;
}

async function resolve(arg: string, targetsFile: string | undefined): Promise<ScanTarget> {
  let registry;
  try {
    registry = await loadTargets(targetsFile, { resolveSecrets: false });
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message, 1);
    throw error;
  }
  const target = registry.get(arg);
  if (target !== undefined) {
    if (target.type !== "ssh") {
      throw new CliError(
        `Cannot scan target ${JSON.stringify(arg)}: expected an ssh target, found ${target.type}`,
        1,
      );
    }
    const c = target.connection;
    return {
      name: arg,
      isTarget: true,
      host: c.host,
      port: c.port,
      pinned: c.host_key,
      via: c.via,
      timeoutMs: c.connect_timeout_ms,
    };
  }
  const direct = parseHostPort(arg);
  if (direct) return { name: arg, isTarget: false, ...direct };
  throw new CliError(
    `No target ${JSON.stringify(arg)} in ${
      targetsFile ?? "the embedded default targets (give --targets FILE or TAILOPS_TARGETS)"
    }: expected an ssh target id or HOST:PORT`,
    1,
  );
}

/**
 * Runs `tailops ssh-keyscan`.
 *
 * Needs `read` for the targets file, `net` for the server, `env` for fallbacks.
 *
 * @param args Arguments after `ssh-keyscan`.
 * @returns Exit code: 0 scanned, 1 unreachable or the pinned key no longer matches.
 * @throws {CliError} On bad usage (exit 2), a bad targets file or an unreachable server (exit 1).
 */
export async function runKeyscan(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    targets: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (parsed.values.help) {
    console.log(SSH_KEYSCAN_HELP);
    return 0;
  }
  const [arg, extra] = parsed.positionals;
  if (arg === undefined || extra !== undefined) {
    throw new CliError("Usage: tailops ssh-keyscan TARGET|HOST:PORT [--targets FILE]");
  }
  const scan = await resolve(arg, stringOption(parsed, "targets", "TAILOPS_TARGETS"));
  if (scan.via) {
    console.error(
      `Note: ${scan.name} is reached via ${scan.via}; scanning ${scan.host}:${scan.port} directly from this host`,
    );
  }
  let keys;
  try {
    keys = await scanHostKey(scan.host, scan.port, { timeoutMs: scan.timeoutMs });
  } catch (error) {
    if (error instanceof SshError) {
      throw new CliError(
        `${error.message}${scan.isTarget ? ` (target ${scan.name})` : ""}`,
        1,
      );
    }
    throw error;
  }
  for (const key of keys) console.log(`${scan.name} ${key.keyType} ${key.fingerprint}`);
  const first = keys[0];
  if (scan.pinned === undefined) {
    console.error(
      `# Check the fingerprint out of band, then pin the first key (the one the gateway verifies) in the target's connection:\n#   host_key: ${first.fingerprint}`,
    );
    return 0;
  }
  const match = keys.find((k) => k.fingerprint === scan.pinned);
  if (match === undefined) {
    console.error(
      `The pinned host_key ${scan.pinned} of ${scan.name} matches no key the server offers: expected one of ${
        keys.map((k) => k.fingerprint).join(", ")
      }; the host key changed or the pin is wrong`,
    );
    return 1;
  }
  if (match !== first) {
    // A pin does not narrow the algorithms: the gateway is shown the first key and refuses it.
    console.error(
      `The pinned host_key of ${scan.name} is its ${match.keyType} key, but the gateway is shown the ${first.keyType} key first and will refuse it: expected host_key: ${first.fingerprint}`,
    );
    return 1;
  }
  console.error(`# The pinned host_key of ${scan.name} matches its ${match.keyType} key`);
  return 0;
}
