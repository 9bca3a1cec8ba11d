/**
 * MCP resources: what a caller may read about the gateway itself. Each
 * resource is one declarative entry (`_resource_entries.ts`: URI, who may
 * read it, how it reads); listing and reading follow the identity of each request, so a
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
import { getLogger } from "@logtape/logtape";
import { z } from "zod";
import { NAME_PATTERN } from "../config/targets_schema.ts";
import type { Identity } from "../gate/mod.ts";
import { CallError, limitRate } from "./call_tool.ts";
import type { RequestExtra } from "./tool_definitions.ts";
import { requestExtra } from "./request_context.ts";
import {
  infosFor,
  RESOURCE_ENTRIES,
  type ResourceCore,
  type ResourceEntry,
  TARGET_URI_TEMPLATE,
  targetEntry,
  targetUri,
} from "./_resource_entries.ts";
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

const log = getLogger(["tailops", "mcp"]);

/** Values one completion answers at most (MCP's own cap). */
const COMPLETION_LIMIT = 100;
/** Longest URI read at all. */
const MAX_URI_LENGTH = 2048;

export {
  RESOURCE_URIS,
  type ResourceCore,
  type ResourceSources,
  TARGET_URI_TEMPLATE,
  targetUri,
} from "./_resource_entries.ts";

/** The request's caller, as the server resolves it (`undefined`: refuse the request). */
type CallerOf = (extra: RequestExtra) => Identity | undefined;

const uriSchema = z.string().max(MAX_URI_LENGTH, {
  error: (issue) =>
    `Invalid resource URI: expected at most ${MAX_URI_LENGTH} characters, found ${
      String((issue.input as string).length)
    }`,
});

/** What a target id can start with (see `NAME_PATTERN`); anything else completes to nothing. */
const idPrefixSchema = z.string().max(63).regex(/^[a-z0-9._-]*$/);

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
  log.error("Reading a resource failed: {error}", {
    error: error instanceof Error ? error.stack ?? error.message : String(error),
  });
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
  if (!idPrefixSchema.safeParse(request.prefix).success) return [];
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
 * @param options The caller of each request (completion callbacks find
 *   theirs through the guard's request context, `request_context.ts`).
 */
export function serveResources(
  server: McpServer,
  core: ResourceCore,
  options: { callerOf: CallerOf },
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
        // The SDK gives a completion callback no request: the guard's context does.
        id: (value) => {
          const identity = callerOf(requestExtra() ?? {});
          return identity === undefined ? [] : completeTargetIds(core, { identity, prefix: value });
        },
      },
    }),
    { title: "One target you may use", mimeType: "application/json" },
    () => {
      // Never called: the resources/read handler below replaces the SDK's.
      throw new ProtocolError(
        ProtocolErrorCode.InternalError,
        "Resource reads are answered by the gateway's own handler",
      );
    },
  );
  const callerOfCtx = (ctx: ServerContext) => callerOf({ authInfo: ctx.http?.authInfo });
  server.server.setRequestHandler("resources/list", (_request, ctx) => {
    const caller = callerOfCtx(ctx);
    const resources: Resource[] = caller === undefined ? [] : RESOURCE_ENTRIES
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
      const entry = RESOURCE_ENTRIES.find((e) => e.uri === uri && e.readable(core, caller));
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
