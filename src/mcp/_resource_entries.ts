/**
 * The resources the gateway serves, one declarative entry each: URI, who may
 * list and read it, and how it reads. `resources.ts` serves them.
 *
 * @module
 */
import type { PolicyFile } from "../config/policy_schema.ts";
import type { Target } from "../config/targets_schema.ts";
import { holdsEverywhere, type Identity, mayDecideApproval } from "../gate/mod.ts";
import type { Operation } from "../ops/operation.ts";
import type { TargetInfo } from "../ops/discovery.ts";
import { recentAuditRecords } from "../audit/recent.ts";
import type { CallDeps } from "./call_deps.ts";
import { approvalInfo } from "./approval_flow.ts";
import { visibleTargetInfos } from "./list_targets.ts";
import { describePolicy } from "./_policy_words.ts";
import type { RefusalRecorder } from "./refusals.ts";

/** The fixed resource URIs. */
export const RESOURCE_URIS = {
  targets: "tailops://targets",
  policy: "tailops://policy",
  approvals: "tailops://approvals/pending",
  audit: "tailops://audit/recent",
} as const;

/** The URI template of one target's resource. */
export const TARGET_URI_TEMPLATE = "tailops://targets/{id}";

/** Records `tailops://audit/recent` returns at most. */
export const AUDIT_RECENT_LIMIT = 50;
/** Bytes of one audit record's JSON shown at most; a longer one keeps only its summary fields. */
export const AUDIT_RECORD_MAX_BYTES = 4096;
/** Bytes read from the ends of all audit chains together, at most (and 32 KiB per chain at least). */
const AUDIT_READ_BYTES = 512 * 1024;
/** Targets `tailops://targets` lists at most. */
export const TARGETS_LIMIT = 500;
/** Pending approvals `tailops://approvals/pending` lists at most (the oldest first). */
export const APPROVALS_LIMIT = 100;

/**
 * The URI of one target's resource. Target ids use only unreserved URI
 * characters, so the id is its own encoding; `encodeURIComponent` keeps
 * that true should the id grammar ever widen.
 *
 * @param id A target id.
 * @returns `tailops://targets/ID`.
 */
export function targetUri(id: string): string {
  return `tailops://targets/${encodeURIComponent(id)}`;
}

/** What resources read beyond the call pipeline's dependencies. */
export interface ResourceSources {
  /** The policy file as loaded, for `tailops://policy`. */
  readonly policy: PolicyFile;
  /** The audit chains of the running gateway's state directory, for `tailops://audit/recent`. */
  readonly auditChains: () => Promise<{ chain: number; path: string }[]>;
}

/** The parts of the gateway resources are built from (a `GatewayCore` fits). */
export interface ResourceCore {
  readonly deps: CallDeps;
  readonly catalog: readonly Operation[];
  readonly refusals?: RefusalRecorder;
  /** Without it, only the targets resources are served. */
  readonly resources?: ResourceSources;
}

/** One readable resource: read gives the text and what the audit record says about it. */
export interface ResourceEntry {
  readonly uri: string;
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly mimeType: "application/json" | "text/plain";
  /** Whether this caller may list and read it. */
  readonly readable: (core: ResourceCore, identity: Identity) => boolean;
  readonly read: (
    core: ResourceCore,
    identity: Identity,
  ) => Promise<{ text: string; detail?: Record<string, unknown> }>;
}

/**
 * The operations a target's entry reports on: all but the gateway's own `list_targets`.
 *
 * @param core The catalog.
 * @returns The operations, in catalog order.
 */
export function reported(core: Pick<ResourceCore, "catalog">): readonly Operation[] {
  return core.catalog.filter((op) => op.visibleWith === undefined);
}

/**
 * The targets a caller may use, with what they may do there (as `list_targets` says).
 *
 * @param core Registry, policy and catalog.
 * @param identity The caller.
 * @returns Each visible target with its entry, in registry order.
 */
export function infosFor(
  core: Pick<ResourceCore, "deps" | "catalog">,
  identity: Identity,
): Map<Target, TargetInfo> {
  return visibleTargetInfos(core.deps, { identity, about: reported(core) });
}

/**
 * One target as the resources show it: its id and URI, then its `list_targets` entry.
 *
 * @param target The target.
 * @param info What the caller may do there.
 * @returns The JSON-ready entry.
 */
export function targetEntry(
  target: Target,
  info: TargetInfo,
): TargetInfo & { id: string; uri: string } {
  return { id: target.id, uri: targetUri(target.id), ...info };
}

/** Shows one audit record within {@linkcode AUDIT_RECORD_MAX_BYTES}. */
function shownRecord(chain: number, record: Record<string, unknown>): Record<string, unknown> {
  const { prev: _prev, hash: _hash, ...rest } = record;
  const full = { chain, ...rest };
  if (JSON.stringify(full).length <= AUDIT_RECORD_MAX_BYTES) return full;
  const keep = ["seq", "time", "event", "identity", "tool", "target", "decision", "rule"] as const;
  const summary: Record<string, unknown> = { chain };
  for (const key of [...keep, "reason", "status"]) {
    if (rest[key] !== undefined) summary[key] = rest[key];
  }
  return { ...summary, cut: `longer than ${AUDIT_RECORD_MAX_BYTES} bytes: fields left out` };
}

/** Every fixed resource, in listing order (the target template is served beside them). */
export const RESOURCE_ENTRIES: readonly ResourceEntry[] = [
  {
    uri: RESOURCE_URIS.targets,
    name: "targets",
    title: "Targets you may use",
    description:
      "The targets you may use: id, type, description, tags, groups, the tools you may call on each and which need approval.",
    mimeType: "application/json",
    readable: () => true,
    read: (core, identity) => {
      const infos = [...infosFor(core, identity)];
      const targets = infos.slice(0, TARGETS_LIMIT).map(([t, info]) => targetEntry(t, info));
      const cut = infos.length > TARGETS_LIMIT;
      return Promise.resolve({
        text: JSON.stringify({
          targets,
          ...(cut
            ? {
              truncated:
                `${infos.length} targets; the first ${TARGETS_LIMIT} are listed: call list_targets with a selector for the rest`,
            }
            : {}),
        }),
        detail: { targets: targets.length },
      });
    },
  },
  {
    uri: RESOURCE_URIS.policy,
    name: "policy",
    title: "Your effective policy",
    description:
      "The policy rules as they apply to you, in words: operations, targets, parameter limits, approvals, windows and rate limits.",
    mimeType: "text/plain",
    readable: (core) => core.resources !== undefined,
    read: (core, identity) =>
      Promise.resolve({
        text: describePolicy({
          file: core.resources!.policy,
          compiled: core.deps.policy,
          targets: core.deps.registry.targets,
          operations: reported(core),
        }, identity),
      }),
  },
  {
    uri: RESOURCE_URIS.approvals,
    name: "approvals-pending",
    title: "Pending approvals",
    description:
      `Approval requests waiting for a decision (the oldest ${APPROVALS_LIMIT}) on targets where you hold approvals:grant.`,
    mimeType: "application/json",
    readable: (core, identity) =>
      core.deps.approvals !== undefined && identity.scopes.has("approvals:grant"),
    read: async (core, identity) => {
      const approvals = core.deps.approvals!;
      const now = (core.deps.now?.() ?? new Date()).getTime();
      // A role limited to some targets sees the requests about those targets only.
      const pending = (await approvals.store.list({ state: "pending" })).filter((a) =>
        Date.parse(a.expires) > now &&
        mayDecideApproval(identity, a.targets.map((id) => core.deps.registry.get(id)))
      );
      const shown = pending.slice(0, APPROVALS_LIMIT).map((a) => ({
        ...approvalInfo(a),
        tool: a.tool,
        created: a.created,
        summary: a.summary,
        args: approvals.redact(a.args, a.tool),
      }));
      return {
        text: JSON.stringify({
          approvals: shown,
          ...(pending.length > shown.length ? { truncated: `${pending.length} pending` } : {}),
        }),
        detail: { approvals: shown.length },
      };
    },
  },
  {
    uri: RESOURCE_URIS.audit,
    name: "audit-recent",
    title: "Recent audit records",
    description:
      `The last ${AUDIT_RECENT_LIMIT} audit records of this gateway's state directory (as logged: arguments redacted); for identities holding audit:read.`,
    mimeType: "application/json",
    readable: (core, identity) =>
      core.resources !== undefined && holdsEverywhere(identity, "audit:read"),
    read: async (core) => {
      const chains = await core.resources!.auditChains();
      const maxBytes = Math.max(32 * 1024, Math.floor(AUDIT_READ_BYTES / (chains.length || 1)));
      const found = await recentAuditRecords(chains, { limit: AUDIT_RECENT_LIMIT, maxBytes });
      const records = found.map((r) => shownRecord(r.chain, r.record));
      return {
        text: JSON.stringify({ records, chains: chains.length }),
        detail: { records: records.length },
      };
    },
  },
];
