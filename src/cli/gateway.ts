/**
 * Opens a gateway from configuration: registry, compiled policy, audit log,
 * executor and catalog — the parts both transports serve.
 *
 * @module
 */
import type { AuditLog } from "../audit/writer.ts";
import { listAuditChains, openAuditChain } from "../audit/chains.ts";
import { powerCutSinkFromEnv } from "../audit/power_cut_sink.ts";
import { redact, SecretScanner } from "../audit/redact.ts";
import {
  findSecrets,
  loadPolicy,
  loadTargets,
  type PolicyFile,
  type Registry,
} from "../config/mod.ts";
import { ExecutorHost } from "../exec/host.ts";
import { describeProtectedFiles, secretFilePaths } from "../exec/protected_files.ts";
import { outputBudget } from "../exec/output_budget.ts";
import { DOCKER_KIND } from "../exec/docker_kind.ts";
import { HTTP_KIND } from "../exec/http_kind.ts";
import { LOCAL_KIND, resolveProgram } from "../exec/local_kind.ts";
import { PROXMOX_KIND } from "../exec/proxmox_kind.ts";
import { SSH_KIND } from "../exec/ssh_kind.ts";
import type { WorkerKind } from "../exec/worker_kind.ts";
import { compilePolicy } from "../gate/policy.ts";
import { ApprovalStore, notifyWebhook } from "../gate/approvals.ts";
import { TierRateLimiter } from "../gate/rate_limit.ts";
import { loadOrCreateAuditKey, loadOrCreateGatewayKey } from "../auth/gateway_key.ts";
import { checkpointShipper, type ShippingCounts } from "./checkpoint_shipping.ts";
import { requestStateSigner } from "../mcp/request_state.ts";
import { type ApprovalDeps, watchApprovals } from "../mcp/approval_flow.ts";
import { getLogger } from "@logtape/logtape";
import { createLocalJWKSet } from "jose";
import type { GatewayCore } from "../mcp/server.ts";
import { CallMetrics } from "../mcp/metrics.ts";
import { RefusalRecorder } from "../mcp/refusals.ts";
import { InFlight } from "../mcp/in_flight.ts";
import { checkRegistryAgainstCatalog, localPrograms } from "../ops/catalog.ts";
import type { Operation } from "../ops/operation.ts";
import { checkLocalRunGrant } from "../ops/operator.ts";
import { catalogSecrets, loadCatalog } from "./catalog.ts";
import { setLogScrubber } from "./logging.ts";
import { loadTemplates } from "../config/templates_load.ts";
import { withPositions } from "../config/yaml_source.ts";
import type { Secret } from "../config/secret.ts";
import type { FsyncMode } from "../audit/writer.ts";
import { removeInstance } from "./instances.ts";
import { openStateBackend, type StateBackend } from "../state/mod.ts";

const log = getLogger(["tailops", "gateway"]);

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
  /** Directory of operator-defined operation files; `TAILOPS_OPERATIONS` when absent. */
  operationsDir?: string;
  /** Shared state database (`--state-url`); the state directory alone when absent. */
  stateUrl?: string;
  /** file_write templates (`--templates`); none when absent. */
  templatesDir?: string;
  /** Curated compose stacks; absent: `TAILOPS_STACKS`. */
  stacksDir?: string;
}

/** An open gateway. */
export interface Gateway {
  readonly core: GatewayCore;
  readonly registry: Registry;
  readonly policy: PolicyFile;
  /** Where the policy came from (a path, or the embedded default's name). */
  readonly policyFile: string;
  readonly audit: AuditLog;
  /** The audit chain this gateway holds (1 is `STATE/audit.jsonl`, N is `STATE/audit.N.jsonl`). */
  readonly chain: number;
  /** The executor workers, for readiness: start them, and say whether none can start. */
  readonly workers: Pick<ExecutorHost, "warm" | "unstartable">;
  /** Checkpoints shipped off the host, and deliveries that failed. */
  readonly shipping: ShippingCounts;
  /** Approvals, shared by the call pipeline, the HTTP endpoint and the watcher. */
  readonly approvals: ApprovalDeps;
  /** Where shared state lives (embedded, or PostgreSQL for several gateways). */
  readonly state: StateBackend;
  /**
   * Stops taking new tool calls and waits up to `graceMs` for the requests in
   * flight; then cuts the calls still running (their clients get a
   * `cancelled` result saying the gateway is shutting down) and waits a
   * little more for those answers to be written.
   *
   * @returns How many requests were still in flight when the grace period ended.
   */
  drain(graceMs: number): Promise<number>;
  /** Stops workers and closes the audit log (after a `stopped` record). Idempotent. */
  close(): Promise<void>;
}

/** How long cut calls get to write their `finished` record and answer. */
const CUT_SETTLE_MS = 3_000;

/** Worker kinds by target type. */
export const WORKER_KINDS: readonly WorkerKind[] = [
  LOCAL_KIND,
  SSH_KIND,
  DOCKER_KIND,
  HTTP_KIND,
  PROXMOX_KIND,
];

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
  const { policy, file, locate } = await loadPolicy(options.policyFile);
  // Templates' secrets (file_write's here, the stacks' in loadCatalog) are resolved now, like
  // the registry's, and redacted like them.
  const templates = options.templatesDir ? await loadTemplates(options.templatesDir) : [];
  const catalog = await loadCatalog(options.operationsDir, options.stacksDir, { templates });
  const compiled = await withPositions(() => compilePolicy(policy, catalog, { file, locate }));
  checkRegistryAgainstCatalog(registry, catalog);
  // Before the audit log: a gateway that cannot reach its shared state does not start.
  const state = await openStateBackend({
    stateDir: options.stateDir,
    stateUrl: options.stateUrl,
    mode: policy.shared_state,
  });
  try {
    return await assemble(options, {
      registry,
      policy,
      file,
      compiled,
      state,
      catalog,
      templateSecrets: catalogSecrets(catalog),
    });
  } catch (error) {
    await state.close();
    throw error;
  }
}

async function assemble(
  options: GatewayOptions,
  loaded: {
    registry: Registry;
    policy: PolicyFile;
    file: string;
    compiled: ReturnType<typeof compilePolicy>;
    state: StateBackend;
    /** Built-ins, curated stacks and operator operations. */
    catalog: readonly Operation[];
    /** Secrets templates fill in (file_write's, the stacks'): the catalog's. */
    templateSecrets: readonly Secret[];
  },
): Promise<Gateway> {
  const { registry, policy, file, compiled, state, catalog } = loaded;
  const secrets = [
    ...findSecrets(registry.targets).map(({ secret }) => secret),
    ...loaded.templateSecrets,
  ].map((secret) => secret.reveal());
  const scanner = new SecretScanner(secrets);
  // Log lines too: no code path logs a secret, and none that is added later can.
  setLogScrubber((text) => scanner.scan(text));
  const auditKey = await loadOrCreateAuditKey(options.stateDir);
  const auditConfig = policy.audit;
  const shipper = checkpointShipper(auditConfig?.ship);
  // Each gateway on this state directory writes its own chain (the first one
  // no other process holds): several stdio instances and an HTTP gateway of
  // one user run at once, every call of each in a verifiable chain.
  const { chain, log: audit } = await openAuditChain(options.stateDir, {
    fsync: options.fsync ?? "batch",
    secrets: scanner,
    // A crash or a full disk can leave half a line: keep it aside and go on
    // (the `tail_repaired` record says where), rather than refuse to start.
    onCorruptTail: "set_aside",
    // Tests only: a SIGKILL then leaves what a power cut would (see the module).
    wrapFile: powerCutSinkFromEnv(),
    checkpoint: {
      signer: {
        kid: auditKey.kid,
        sign: async (data) =>
          new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, auditKey.privateKey, data)),
      },
      everyRecords: auditConfig?.checkpoint.every_records,
      everyMs: auditConfig && auditConfig.checkpoint.every_seconds * 1000,
      onCheckpoint: shipper.onCheckpoint,
    },
  });
  await state.mirrorAudit(audit, audit.path);
  const localCapabilities = new Set(
    registry.targets.filter((t) => t.type === "local").flatMap((t) => t.capabilities),
  );
  // Before the executor: the protected files below include the signing key's inode.
  const key = await loadOrCreateGatewayKey(options.stateDir);
  const programs = localPrograms(catalog, localCapabilities);
  checkLocalRunGrant(catalog, Object.fromEntries(programs.map((p) => [p, resolveProgram(p)])));
  const executor = new ExecutorHost(registry, {
    kinds: WORKER_KINDS,
    context: {
      programs,
      // Never readable through read_file/list_directory, whatever the roots.
      protectedFiles: describeProtectedFiles([
        options.stateDir,
        ...secretFilePaths(registry.targets, policy),
      ]),
    },
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
  const redactArgs = (value: unknown) =>
    redact(value, { secrets: scanner }) as Record<string, unknown>;
  // Arguments some operations audit by digest only (file_write's content), on every path
  // that logs arguments: refusals and approvals as well as calls.
  const auditArgs = (tool: string, args: Record<string, unknown>) => {
    const op = catalog.find((o) => o.name === tool);
    if (!op?.auditArgs) return args;
    try {
      return op.auditArgs(args as never);
    } catch {
      return {};
    }
  };
  const webhook = policy.approvals?.webhook;
  const approvals: ApprovalDeps = {
    store: new ApprovalStore({
      stateDir: options.stateDir,
      signingKey: key,
      records: state.approvals,
    }),
    audit: (entry) => audit.append(entry),
    redact: (value, tool) =>
      redactArgs(
        tool && value && typeof value === "object"
          ? auditArgs(tool, value as Record<string, unknown>)
          : value,
      ),
    seen: new Map(),
    grantKeys: createLocalJWKSet({ keys: [...key.publicJwks] }),
    notify: webhook === undefined ? undefined : (event) => {
      notifyWebhook(webhook.url, webhook.secret.reveal(), event).then((result) => {
        if (!result.ok) log.warn("Approval webhook failed: {reason}", { reason: result.reason });
      });
    },
  };
  const stopWatching = watchApprovals(approvals);
  const refusals = new RefusalRecorder(audit, { auditArgs });
  const inFlight = new InFlight();
  const core: GatewayCore = {
    catalog,
    metrics: new CallMetrics(),
    refusals,
    inFlight,
    requestStates: requestStateSigner(key, approvals.grantKeys!),
    resources: { policy, auditChains: () => listAuditChains(options.stateDir) },
    deps: {
      registry,
      policy: compiled,
      executor,
      audit,
      redact: redactArgs,
      scrub: (text) => scanner.scan(text),
      approvals,
      rateLimiter: state.rateLimiter(new TierRateLimiter(policy.rate_limits)),
      outputBudget: outputBudget(),
    },
  };
  let closing: Promise<void> | undefined;
  return {
    core,
    registry,
    policy,
    policyFile: file,
    audit,
    chain,
    workers: executor,
    shipping: shipper.counts,
    approvals,
    state,
    async drain(graceMs) {
      inFlight.stop();
      if (await inFlight.settled(graceMs)) return 0;
      const cut = inFlight.count;
      log.warn("Grace period over: cutting {count} request(s) still in flight", { count: cut });
      // Workers first, so running calls end with "The gateway is shutting
      // down"; then the signal, for calls waiting on approval or a queue.
      executor.close();
      inFlight.cut();
      await inFlight.settled(CUT_SETTLE_MS);
      return cut;
    },
    close() {
      return closing ??= (async () => {
        stopWatching();
        executor.close();
        // While the chain is still locked: the record counts only while it is.
        removeInstance(options.stateDir, chain);
        await refusals.close();
        try {
          await audit.append({ event: "stopped" });
        } finally {
          // Closing signs the final checkpoint; its delivery is awaited (bounded by timeouts).
          await audit.close();
          await shipper.drain();
          await state.close();
        }
      })();
    },
  };
}
