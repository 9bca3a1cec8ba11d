/**
 * Builds the MCP server one caller sees: a tool for each operation the gate
 * would let that identity use on at least one target, each wired to
 * {@linkcode callTool}.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { couldUse, type Identity } from "../gate/mod.ts";
import type { Operation } from "../ops/operation.ts";
import { type CallDeps, CallError, callTool } from "./call_tool.ts";
import type { CallMetrics } from "./metrics.ts";
import type { RefusalRecorder } from "./refusals.ts";
import type { InFlight } from "./in_flight.ts";
import { type ArgumentSchema, type GuardOptions, guardTransport } from "./request_guard.ts";
import { requestIdentity } from "./request_identity.ts";
import { type CallToolResult, McpServer, type Transport } from "./sdk.ts";
import { serveCachedToolList, toolConfig } from "./tool_definitions.ts";
import { VERSION } from "../version.ts";

const log = getLogger(["tailops", "mcp"]);

/** Server name and version announced to clients. */
export const SERVER_INFO = { name: "tailops", version: VERSION } as const;

/** Everything a session's server is built from. */
export interface GatewayCore {
  /** The call pipeline's dependencies. */
  readonly deps: CallDeps;
  /** Every operation the gateway offers. */
  readonly catalog: readonly Operation[];
  /** Where call outcomes are counted, when metrics are on. */
  readonly metrics?: CallMetrics;
  /** Where calls refused before the gate are audited (aggregated). */
  readonly refusals?: RefusalRecorder;
  /** Requests in flight on every session, for a graceful shutdown. */
  readonly inFlight?: InFlight;
}

/**
 * An McpServer whose transport is guarded once connected: malformed tool
 * calls get a precise -32602, calls during shutdown are refused, and every
 * request is counted until answered (see {@linkcode guardTransport}).
 */
class GuardedMcpServer extends McpServer {
  readonly #guard: GuardOptions;

  constructor(
    info: ConstructorParameters<typeof McpServer>[0],
    options: ConstructorParameters<typeof McpServer>[1],
    guard: GuardOptions,
  ) {
    super(info, options);
    this.#guard = guard;
  }

  override connect(transport: Transport): Promise<void> {
    return super.connect(guardTransport(transport, this.#guard));
  }
}

/**
 * The operations an identity may see: those the gate could allow on at least
 * one target. Calling any other tool looks like calling an unknown tool.
 *
 * @param core Registry, policy and catalog.
 * @param identity The caller.
 * @returns Visible operations, in catalog order.
 */
export function visibleOperations(core: GatewayCore, identity: Identity): Operation[] {
  return core.catalog.filter((operation) => isVisible(core, identity, operation));
}

/**
 * Whether an identity could use an operation on at least one target.
 *
 * @param core Registry, policy and catalog.
 * @param identity The caller.
 * @param operation The operation.
 * @returns `true` when the tool is visible to the caller.
 */
export function isVisible(core: GatewayCore, identity: Identity, operation: Operation): boolean {
  const { registry, policy } = core.deps;
  return registry.targets.some((target) => couldUse({ identity, operation, target }, policy));
}

function toolsOf(
  visible: readonly Operation[],
  schemas: ReadonlyMap<string, ArgumentSchema>,
): ReadonlyMap<string, ArgumentSchema> {
  return new Map(visible.map((op) => [op.name, schemas.get(op.name)!]));
}

/** Options for {@linkcode createMcpServer}. */
export interface McpServerOptions {
  /**
   * Every request carries its own identity (HTTP): tools, listing and calls
   * follow the identity of each request, and a request without one, or with
   * another subject's, is refused. Off (stdio): the server's identity holds.
   */
  identityPerRequest?: boolean;
}

/**
 * Asks the client's user to confirm a call (MCP elicitation). Anything but an
 * explicit "yes" is a no.
 */
async function confirmByElicitation(
  server: McpServer,
  message: string,
  signal: AbortSignal,
): Promise<boolean> {
  try {
    const answer = await server.server.elicitInput({
      message,
      requestedSchema: {
        type: "object",
        properties: {
          confirm: {
            type: "boolean",
            title: "Run it",
            description: "Confirm to run this call now",
          },
        },
        required: ["confirm"],
      },
    }, { signal });
    return answer.action === "accept" && answer.content?.confirm === true;
  } catch (error) {
    log.warn("Elicitation failed; treating it as not confirmed: {error}", { error: String(error) });
    return false;
  }
}

function errorResult(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/**
 * Creates the MCP server for one caller (one stdio connection or one HTTP session).
 *
 * Over HTTP (`identityPerRequest`), each request acts as the identity it was
 * authenticated as now: a token revoked, expired or bound to fewer scopes
 * takes effect at the next request, `tools/list` follows it, and a tool it
 * can no longer see answers like an unknown tool. The session stays bound
 * to its subject: a request from another subject is refused.
 *
 * @param core Registry, policy, executor, audit and catalog.
 * @param identity The caller (over HTTP: who opened the session).
 * @param options Whether identity is resolved per request.
 * @returns A server with the caller's tools registered.
 */
export function createMcpServer(
  core: GatewayCore,
  identity: Identity,
  options: McpServerOptions = {},
): McpServer {
  const perRequest = options.identityPerRequest === true;
  /** Who makes this request, or `undefined` when it must be refused. */
  const callerOf = (extra: Parameters<typeof requestIdentity>[0]): Identity | undefined => {
    if (!perRequest) return identity;
    const current = requestIdentity(extra);
    return current?.subject === identity.subject ? current : undefined;
  };
  // Over HTTP every operation is registered and each request sees those its
  // identity could use; over stdio the identity is fixed, so only those.
  const operations = perRequest ? [...core.catalog] : visibleOperations(core, identity);
  const schemas = new Map(operations.map((op) => [op.name, toolConfig(op).inputSchema]));
  const visibleTo = (extra: Parameters<typeof requestIdentity>[0]): readonly Operation[] => {
    if (!perRequest) return operations;
    const caller = callerOf(extra);
    return caller === undefined ? [] : visibleOperations(core, caller);
  };
  const server = new GuardedMcpServer(SERVER_INFO, {
    capabilities: { logging: {} },
    instructions:
      "TailOpsMCP runs typed infrastructure operations on registered targets. Every tool takes `target` (one id) or `targets` (a selector) and `dry_run`. Denials explain which policy, scope or capability refused the call.",
  }, {
    // Hidden and unknown tools read the same, per request over HTTP.
    tools: perRequest ? (extra) => toolsOf(visibleTo(extra ?? {}), schemas) : schemas,
    inFlight: core.inFlight,
    onRefused: core.refusals && ((refusal, extra) =>
      void core.refusals!.record({
        event: "refused",
        reason: refusal.reason,
        identity: (callerOf(extra ?? {}) ?? identity).subject,
        ...(refusal.tool === undefined ? {} : { tool: refusal.tool }),
        message: refusal.message,
        ...(refusal.args && typeof refusal.args === "object" ? { args: refusal.args } : {}),
      })),
  });
  for (const operation of operations) {
    const config = toolConfig(operation);
    server.registerTool(operation.name, config, async (args, extra): Promise<CallToolResult> => {
      const caller = callerOf(extra);
      if (caller === undefined) {
        return errorResult("forbidden: This request's identity does not own this session");
      }
      const token = extra._meta?.progressToken;
      const canElicit = server.server.getClientCapabilities()?.elicitation !== undefined;
      // A shutdown's grace period ending cuts the call like a client's cancel.
      const signal = core.inFlight
        ? AbortSignal.any([extra.signal, core.inFlight.signal])
        : extra.signal;
      try {
        const outcome = await callTool(core.deps, {
          identity: caller,
          operation,
          args: args as Record<string, unknown>,
          signal,
          onProgress: token === undefined ? undefined : (progress, total, message) => {
            extra.sendNotification({
              method: "notifications/progress",
              params: { progressToken: token, progress, total, message },
            }).catch(() => {});
          },
          confirm: canElicit
            ? (message) => confirmByElicitation(server, message, signal)
            : undefined,
        });
        core.metrics?.record(outcome.result);
        return {
          content: [{ type: "text", text: outcome.text }],
          structuredContent: outcome.result as unknown as Record<string, unknown>,
          isError: outcome.isError,
        };
      } catch (error) {
        if (error instanceof CallError) {
          core.metrics?.recordError(operation.name, error.code);
          await core.refusals?.record({
            event: "refused",
            reason: error.code,
            identity: identity.subject,
            tool: operation.name,
            message: error.message,
            args: core.deps.redact(args),
          });
          return errorResult(`${error.code}: ${error.message}`);
        }
        core.metrics?.recordError(
          operation.name,
          error instanceof Error && error.name === "AuditError" ? "audit_unavailable" : "internal",
        );
        if (error instanceof Error && error.name === "AuditError") {
          log.error("Audit log unavailable; refusing call: {error}", { error: error.message });
          return errorResult(
            "audit_unavailable: The audit log cannot be written, so the gateway refuses to run calls",
          );
        }
        log.error("Call to {tool} failed: {error}", {
          tool: operation.name,
          error: error instanceof Error ? error.stack ?? error.message : String(error),
        });
        return errorResult("internal: The gateway failed while handling this call; see its log");
      }
    });
  }
  serveCachedToolList(server, operations, visibleTo);
  // No list_changed notifications: the list changes only with the caller's
  // credential (seen at their next request) or a restart.
  server.server.registerCapabilities({ tools: { listChanged: false } });
  return server;
}
