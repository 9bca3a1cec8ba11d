/**
 * MCP resources: what a caller may read about the gateway itself. Each
 * resource is one declarative entry below (URI, who may read it, how it
 * reads); listing and reading follow the identity of each request, so a
 * caller never sees a resource it may not read, and reading one answers
 * exactly like an unknown URI. URIs are matched in their canonical form
 * only (the one listed): another spelling (percent-encoded, other case,
 * trailing slash, query, fragment, dot segments) is an unknown URI.
 *
 * Reads are rate limited from the caller's observe-tier budget, like calls,
 * and each answered read is audited as a `resource_read` record; a read of
 * a URI the caller cannot see is audited as a `refused` record (aggregated).
 *
 * @module
 */
import { z } from "zod";
import type { PolicyFile } from "../config/policy_schema.ts";
import type { Target } from "../config/targets_schema.ts";
import { NAME_PATTERN } from "../config/targets_schema.ts";
import { holdsOn, type Identity } from "../gate/mod.ts";
import type { Operation } from "../ops/operation.ts";
import type { TargetInfo } from "../ops/discovery.ts";
import { recentAuditRecords } from "../audit/recent.ts";
import type { CallDeps } from "./call_deps.ts";
import { CallError, limitRate } from "./call_tool.ts";
import { approvalInfo } from "./approval_flow.ts";
import { visibleTargetInfos } from "./list_targets.ts";
import { describePolicy } from "./_policy_words.ts";
import type { RefusalRecorder } from "./refusals.ts";
import type { RequestExtra } from "./tool_definitions.ts";
import {
  type McpServer,
  ProtocolError,
  ProtocolErrorCode,
  type ReadResourceResult,
  type Resource,
  ResourceNotFoundError,
  ResourceTemplate,
  type ServerContext,
} from "./sdk.ts";

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
/** Values one completion answers at most (MCP's own cap). */
const COMPLETION_LIMIT = 100;
/** Longest URI read at all. */
const MAX_URI_LENGTH = 2048;

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

/** The request's caller, as the server resolves it (`undefined`: refuse the request). */
type CallerOf = (extra: RequestExtra) => Identity | undefined;

/** One readable resource: read gives the text and what the audit record says about it. */
interface ResourceEntry {
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

/** The operations a target's entry reports on: all but the gateway's own `list_targets`. */
function reported(core: ResourceCore): readonly Operation[] {
  return core.catalog.filter((op) => op.visibleWith === undefined);
}

function infosFor(core: ResourceCore, identity: Identity): Map<Target, TargetInfo> {
  return visibleTargetInfos(core.deps, { identity, about: reported(core) });
}

function targetEntry(target: Target, info: TargetInfo) {
  return { id: target.id, uri: targetUri(target.id), ...info };
}

/**
 * Holding a gateway-wide scope: on every target, not only on a role's
 * targets (the audit log and the approval queue span all targets).
 */
function holdsEverywhere(identity: Identity, scope: "audit:read" | "approvals:grant"): boolean {
  if (!identity.scopes.has(scope)) return false;
  return identity.grants === undefined ||
    identity.grants.some((g) => g.scopes.has(scope) && g.targets === undefined);
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

const ENTRIES: readonly ResourceEntry[] = [
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
      const approvable = (id: string) => {
        const target = core.deps.registry.get(id);
        return target === undefined
          ? holdsEverywhere(identity, "approvals:grant")
          : holdsOn(identity, "approvals:grant", target);
      };
      const pending = (await approvals.store.list({ state: "pending" }))
        .filter((a) => Date.parse(a.expires) > now && a.targets.every(approvable));
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

const uriSchema = z.string().max(MAX_URI_LENGTH, {
  error: (issue) =>
    `Invalid resource URI: expected at most ${MAX_URI_LENGTH} characters, found ${
      String((issue.input as string).length)
    }`,
});

/** The one answer for a URI that is unknown or that the caller may not read. */
function notFound(uri: string): ResourceNotFoundError {
  return new ResourceNotFoundError(uri, `Resource not found: ${JSON.stringify(uri)}`);
}

/** The target id of a canonical target URI, or `undefined`. */
function targetIdOf(uri: string): string | undefined {
  const prefix = "tailops://targets/";
  if (!uri.startsWith(prefix)) return undefined;
  const id = uri.slice(prefix.length);
  return NAME_PATTERN.test(id) && targetUri(id) === uri ? id : undefined;
}

/** A failure while reading, as one JSON-RPC error sentence. */
function readError(error: unknown): ProtocolError {
  if (error instanceof CallError) {
    // A spent budget is the caller's to wait out (implementation-defined code, like the
    // session limit's); an unreachable shared state database is the gateway's failure.
    return error.code === "rate_limited"
      ? new ProtocolError(-32000, `rate_limited: ${error.message}`, { reason: error.code })
      : new ProtocolError(ProtocolErrorCode.InternalError, `${error.code}: ${error.message}`);
  }
  if (error instanceof Error && error.name === "AuditError") {
    return new ProtocolError(
      ProtocolErrorCode.InternalError,
      "audit_unavailable: The audit log cannot be written, so the gateway refuses to answer reads",
    );
  }
  if (error instanceof Error && error.name === "StateUnavailableError") {
    return new ProtocolError(
      ProtocolErrorCode.InternalError,
      `shared_state_unavailable: ${error.message}`,
    );
  }
  return new ProtocolError(
    ProtocolErrorCode.InternalError,
    "internal: The gateway failed while reading this resource; see its log",
  );
}

/**
 * Ids of the targets a caller may use that start with a prefix, for the
 * completion of `{id}`: sorted, at most 100.
 *
 * @param core Registry, policy and catalog.
 * @param request The caller and the typed prefix.
 * @returns Matching ids; none for a prefix no id could start with.
 */
export function completeTargetIds(
  core: Pick<ResourceCore, "deps" | "catalog">,
  request: { identity: Identity; prefix: string },
): string[] {
  if (request.prefix.length > 63 || !/^[a-z0-9._-]*$/.test(request.prefix)) return [];
  return [...infosFor(core, request.identity).keys()].map((t) => t.id)
    .filter((id) => id.startsWith(request.prefix)).sort().slice(0, COMPLETION_LIMIT);
}

/**
 * Serves the resources on a server: `resources/list`,
 * `resources/templates/list`, `resources/read`, and completion of the
 * template's `{id}` (through the SDK's `completion/complete`, which prompt
 * completions share). Declares `resources` (no subscriptions, no list
 * changes: the list changes only with the caller's credential).
 *
 * @param server The server being built.
 * @param core Registry, policy, audit, approvals and the resource sources.
 * @param options The caller of each request, and the server's own identity
 *   (the SDK's completion callbacks are not given the request: see the README).
 */
export function serveResources(
  server: McpServer,
  core: ResourceCore,
  options: { callerOf: CallerOf; identity: Identity },
): void {
  const { callerOf } = options;
  server.server.registerCapabilities({ resources: { listChanged: false } });
  // Registered through the SDK so that completion/complete routes `{id}` here
  // beside any prompt's arguments; listing and reading are answered below.
  server.registerResource(
    "target",
    new ResourceTemplate(TARGET_URI_TEMPLATE, {
      list: undefined,
      complete: {
        id: (value) => completeTargetIds(core, { identity: options.identity, prefix: value }),
      },
    }),
    { title: "One target you may use", mimeType: "application/json" },
    () => {
      throw new ProtocolError(ProtocolErrorCode.InternalError, "Unreachable");
    },
  );
  const callerOfCtx = (ctx: ServerContext) => callerOf({ authInfo: ctx.http?.authInfo });
  server.server.setRequestHandler("resources/list", (_request, ctx) => {
    const caller = callerOfCtx(ctx);
    const resources: Resource[] = caller === undefined ? [] : ENTRIES
      .filter((entry) => entry.readable(core, caller))
      .map(({ uri, name, title, description, mimeType }) => ({
        uri,
        name,
        title,
        description,
        mimeType,
      }));
    return { resources };
  });
  server.server.setRequestHandler("resources/templates/list", () => ({
    resourceTemplates: [{
      uriTemplate: TARGET_URI_TEMPLATE,
      name: "target",
      title: "One target you may use",
      description:
        "One target you may use, as in tailops://targets; {id} completes to the ids you may use.",
      mimeType: "application/json",
    }],
  }));
  server.server.setRequestHandler("resources/read", async (request, ctx) => {
    const parsed = uriSchema.safeParse(request.params.uri);
    if (!parsed.success) {
      throw new ProtocolError(ProtocolErrorCode.InvalidParams, parsed.error.issues[0].message);
    }
    const uri = parsed.data;
    const caller = callerOfCtx(ctx);
    if (caller === undefined) throw notFound(uri);
    let text: string;
    let detail: Record<string, unknown> | undefined;
    let mimeType: ResourceEntry["mimeType"] = "application/json";
    try {
      // Probing unknown URIs costs budget too.
      await limitRate(core.deps, {
        subject: caller.subject,
        tier: "observe",
        now: core.deps.now?.() ?? new Date(),
      });
      const entry = ENTRIES.find((e) => e.uri === uri && e.readable(core, caller));
      const id = entry ? undefined : targetIdOf(uri);
      const target = id === undefined ? undefined : [...infosFor(core, caller)]
        .find(([t]) => t.id === id);
      if (entry === undefined && target === undefined) {
        await core.refusals?.record({
          event: "refused",
          reason: "unknown_resource",
          identity: caller.subject,
          message: `Resource not found: ${JSON.stringify(uri.slice(0, 200))}`,
        });
        throw notFound(uri);
      }
      if (entry) {
        ({ text, detail } = await entry.read(core, caller));
        mimeType = entry.mimeType;
      } else {
        text = JSON.stringify(targetEntry(target![0], target![1]));
      }
      await core.deps.audit.append({
        event: "resource_read",
        identity: caller.subject,
        ...(target ? { target: target[0].id } : {}),
        detail: { uri, ...detail },
      }, { durable: false });
    } catch (error) {
      if (error instanceof ProtocolError) throw error;
      throw readError(error);
    }
    const result: ReadResourceResult = {
      contents: [{ uri, mimeType, text: core.deps.scrub(text) }],
    };
    return result;
  });
}
