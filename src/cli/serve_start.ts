/**
 * Start-up failures of `tailops serve` as one line each: what could not be
 * used, why, and the flag or step that fixes it. No start-up failure reaches
 * the user as a stack trace.
 *
 * @module
 */
import { AuditError, AuditLockedError } from "../audit/audit_error.ts";
import { ConfigError } from "../config/errors.ts";
import { StateOpenError } from "../state/mod.ts";
import { CliError } from "./errors.ts";
import { getLogger } from "@logtape/logtape";
import type { Gateway } from "./gateway.ts";
import { describeInstances, type Instance, runningInstances, writeInstance } from "./instances.ts";
import type { ServeOptions } from "./serve_options.ts";

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Makes sure the state directory exists (mode 0700) and is a directory this
 * user can write.
 *
 * Needs `read` and `write` permission for the directory.
 *
 * @param dir The state directory.
 * @throws {CliError} When it cannot be created or used.
 */
export async function prepareStateDir(dir: string): Promise<void> {
  const fix = "choose another with --state-dir (or TAILOPS_STATE_DIR) or fix its owner and mode";
  try {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    const info = await Deno.stat(dir);
    if (!info.isDirectory) throw new Deno.errors.NotADirectory("not a directory");
    // A directory we cannot write fails here, not halfway through opening the audit log.
    const probe = `${dir}/.tailops-write-test-${Deno.pid}`;
    await Deno.writeTextFile(probe, "", { mode: 0o600 });
    await Deno.remove(probe);
  } catch (error) {
    const why = error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Deno.errors.NotCapable
      ? "the gateway's Deno permission set does not grant it"
      : error instanceof Deno.errors.AlreadyExists || error instanceof Deno.errors.NotADirectory
      ? "a file of another kind is in the way"
      : reason(error);
    throw new CliError(`Cannot use state directory "${dir}": ${why}: ${fix}`, 1);
  }
}

/**
 * Turns an error from opening the gateway into one line.
 *
 * @param error What `openGateway` threw.
 * @param stateDir The state directory (to name the gateways holding it).
 * @returns The error to report.
 */
export async function openFailure(error: unknown, stateDir: string): Promise<CliError> {
  if (error instanceof CliError) return error;
  if (error instanceof ConfigError || error instanceof StateOpenError) {
    return new CliError(error.message, 1);
  }
  if (error instanceof AuditLockedError) {
    const holders = describeInstances(await runningInstances(stateDir));
    return new CliError(
      `${error.message}: ${holders}: stop one of them or give this gateway another --state-dir`,
      1,
    );
  }
  if (error instanceof AuditError) return new CliError(error.message, 1);
  return new CliError(`Cannot start the gateway: ${reason(error)}`, 1);
}

/**
 * Turns an error from binding the HTTP listener into one line, naming the
 * gateway on this state directory that holds the address, if one does.
 *
 * @param error What `Deno.listen` threw.
 * @param options The address and the state directory.
 * @returns The error to report.
 */
export async function listenFailure(
  error: unknown,
  options: { hostname: string; port: number; stateDir: string },
): Promise<CliError> {
  const address = `${options.hostname}:${options.port}`;
  const other = `--listen ${options.hostname}:${options.port === 8080 ? 8081 : 8080}`;
  if (error instanceof Deno.errors.AddrInUse) {
    const holder = (await runningInstances(options.stateDir)).filter((i: Instance) =>
      i.listen === address
    );
    const who = holder.length > 0
      ? `the tailops gateway ${describeInstances(holder)} on this state directory`
      : "another program (see: ss -ltnp)";
    return new CliError(
      `Cannot listen on ${address}: the address is in use by ${who}: stop it or choose another port with ${other}`,
      1,
    );
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return new CliError(
      `Cannot listen on ${address}: permission denied (ports below 1024 need CAP_NET_BIND_SERVICE): choose a higher port with ${other}`,
      1,
    );
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return new CliError(
      `Cannot listen on ${address}: ${options.hostname} is not an address of this host: choose one it has, e.g. --listen 127.0.0.1:${options.port}`,
      1,
    );
  }
  if (error instanceof Deno.errors.NotCapable) {
    return new CliError(
      `Cannot listen on ${address}: the gateway's Deno permission set does not grant it (start it with tailops launch serve, which derives the set from --listen)`,
      1,
    );
  }
  return new CliError(`Cannot listen on ${address}: ${reason(error)}`, 1);
}

/**
 * Records a started gateway in `STATE/instances/` so `token mint` and other
 * gateways' start-up errors can find it.
 *
 * @param options Validated `serve` options.
 * @param gateway The opened gateway.
 * @param http The URL, listen address and audience of an HTTP gateway.
 */
export async function recordInstance(
  options: ServeOptions,
  gateway: Gateway,
  http?: { url: string; listen: string; resource: string; tailscale_socket?: string },
): Promise<void> {
  try {
    await writeInstance(options.stateDir, {
      pid: Deno.pid,
      chain: gateway.chain,
      transport: options.transport,
      started: new Date().toISOString(),
      ...http,
      policy_file: gateway.policyFile,
      roles: Object.keys(gateway.policy.identities?.roles ?? {}),
      max_token_ttl_seconds: gateway.policy.auth?.gateway_tokens.max_ttl_seconds,
    });
  } catch (error) {
    // Only token mint's defaults depend on it; serving does not.
    getLogger(["tailops", "serve"]).warn("Cannot record this gateway in {dir}: {error}", {
      dir: `${options.stateDir}/instances`,
      error: (error as Error).message,
    });
  }
}
