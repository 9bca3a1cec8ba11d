/**
 * Opens a gateway from configuration: registry, compiled policy, audit log,
 * executor and catalog — the parts both transports serve.
 *
 * @module
 */
import { AuditLog } from "../audit/writer.ts";
import { redact, SecretScanner } from "../audit/redact.ts";
import {
  findSecrets,
  loadPolicy,
  loadTargets,
  type PolicyFile,
  type Registry,
} from "../config/mod.ts";
import { ExecutorHost } from "../exec/host.ts";
import { LOCAL_KIND } from "../exec/local_kind.ts";
import type { WorkerKind } from "../exec/worker_kind.ts";
import { compilePolicy } from "../gate/policy.ts";
import type { GatewayCore } from "../mcp/server.ts";
import { CATALOG, localPrograms } from "../ops/catalog.ts";
import type { FsyncMode } from "../audit/writer.ts";

/** Where configuration and state come from. */
export interface GatewayOptions {
  /** Targets file; the embedded default when absent. */
  targetsFile?: string;
  /** Policy file; `policy/default.yaml` when absent. */
  policyFile?: string;
  /** State directory (audit log, keys, tokens). */
  stateDir: string;
  /** Audit durability. */
  fsync?: FsyncMode;
}

/** An open gateway. */
export interface Gateway {
  readonly core: GatewayCore;
  readonly registry: Registry;
  readonly policy: PolicyFile;
  readonly audit: AuditLog;
  /** Stops workers and closes the audit log (after a `stopped` record). */
  close(): Promise<void>;
}

/** Worker kinds by target type. */
export const WORKER_KINDS: readonly WorkerKind[] = [LOCAL_KIND as WorkerKind];

/**
 * Loads configuration and opens the audit log and executors.
 *
 * Needs `read` for config, secrets and state; `write` for the state dir;
 * `env` for secret references; `run` for the local programs.
 *
 * @param options Files and state directory.
 * @returns The gateway.
 * @throws {ConfigError} When configuration is invalid.
 * @throws {AuditError} When the audit log cannot be opened.
 */
export async function openGateway(options: GatewayOptions): Promise<Gateway> {
  const registry = await loadTargets(options.targetsFile);
  const { policy, file } = await loadPolicy(options.policyFile);
  const compiled = compilePolicy(policy, CATALOG, file);
  const secrets = findSecrets(registry.targets).map(({ secret }) => secret.reveal());
  const scanner = new SecretScanner(secrets);
  const audit = await AuditLog.open(`${options.stateDir}/audit.jsonl`, {
    fsync: options.fsync ?? "batch",
    secrets: scanner,
  });
  const localCapabilities = new Set(
    registry.targets.filter((t) => t.type === "local").flatMap((t) => t.capabilities),
  );
  const executor = new ExecutorHost(registry, {
    kinds: WORKER_KINDS,
    context: { programs: localPrograms(CATALOG, localCapabilities) },
  });
  await audit.append({
    event: "config_loaded",
    detail: {
      targets: registry.targets.length,
      targets_file: options.targetsFile ?? "<embedded default>",
      policy_file: file,
      rules: policy.rules.length,
    },
  });
  const core: GatewayCore = {
    catalog: CATALOG,
    deps: {
      registry,
      policy: compiled,
      executor,
      audit,
      redact: (value) => redact(value, { secrets: scanner }) as Record<string, unknown>,
      scrub: (text) => scanner.scan(text),
    },
  };
  return {
    core,
    registry,
    policy,
    audit,
    async close() {
      executor.close();
      try {
        await audit.append({ event: "stopped" });
      } finally {
        await audit.close();
      }
    },
  };
}
