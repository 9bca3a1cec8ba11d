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
import { z } from "zod";
import { type CallDeps, CallError, callTool, type Confirmation } from "./call_tool.ts";
import type { CallMetrics } from "./metrics.ts";
import type { RefusalRecorder } from "./refusals.ts";
import type { InFlight } from "./in_flight.ts";
import {
  type ArgumentSchema,
  type GuardOptions,
  guardTransport,
  type ToolLookup,
} from "./request_guard.ts";
import { requestIdentity } from "./request_identity.ts";
import type { ConfirmState, RequestStateSigner } from "./request_state.ts";
import {
  acceptedContent,
  type CallToolResult,
  CLIENT_CAPABILITIES_META_KEY,
  type ClientCapabilities,
  inputRequired,
  type InputRequiredResult,
  McpServer,
  type ServerContext,
  type Transport,
} from "./sdk.ts";
import { serveCachedToolList, toolConfig } from "./tool_definitions.ts";
import { ENVELOPE_GUIDE } from "./envelope.ts";
import { type ResourceSources, serveResources } from "./resources.ts";
import { VERSION } from "../version.ts";
import { StateUnavailableError } from "../state/state_error.ts";
import { servePrompts } from "./prompts.ts";
import { outputLogFor } from "./log_stream.ts";

const log = getLogger(["tailops", "mcp"]);

/**
 * How to start, for the model: find the targets, prefer a dry run, and what
 * an approval means. The envelope is explained here (and once more in
 * `list_targets`) rather than in every tool's schema.
 */
export const SERVER_INSTRUCTIONS: string =
  "TailOpsMCP runs typed infrastructure operations on registered targets under the operator's policy; there is no shell. " +
  "Start with list_targets: it names the targets you may use and what you may do on each. " +
  `${ENVELOPE_GUIDE} ` +
  "A denial says which policy rule, scope or capability refused the call; do not retry it with other targets to get around it.";

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
  /**
   * Signs the state of confirmation rounds (input-required results); without
   * it a confirm rule is never asked inside the call, only approved out of band.
   */
  readonly requestStates?: RequestStateSigner;
  /** The policy file and audit chains the MCP resources read; without it only targets are served. */
  readonly resources?: ResourceSources;
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

/**
 * The tools a caller can see, checked one name at a time: a call asks about
 * its own tool only, not every operation on every target.
 */
function visibleLookup(
  core: GatewayCore,
  caller: Identity | undefined,
  tools: { byName: ReadonlyMap<string, Operation>; schemas: ReadonlyMap<string, ArgumentSchema> },
): ToolLookup {
  // The guard asks `has` then `get` for the same name: decide it once.
  let asked: string | undefined;
  let visible = false;
  const has = (name: string) => {
    if (name !== asked) {
      asked = name;
      const operation = tools.byName.get(name);
      visible = caller !== undefined && operation !== undefined &&
        isVisible(core, caller, operation);
    }
    return visible;
  };
  return { has, get: (name) => (has(name) ? tools.schemas.get(name) : undefined) };
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

/** The one question a confirm rule asks: a form with a single yes/no field. */
const CONFIRM_FORM = {
  type: "object" as const,
  properties: {
    confirm: {
      type: "boolean" as const,
      title: "Run it",
      description: "Confirm to run this call now",
    },
  },
  required: ["confirm"],
};
const confirmAnswer = z.object({ confirm: z.boolean() });
/** The key of the confirmation in `inputRequests` / `inputResponses`. */
const CONFIRM_KEY = "confirm";

/**
 * Whether the client of this request declared elicitation: the 2026-07-28
 * envelope's capabilities, else what the 2025-era session's `initialize`
 * said (none under 2025 stateless serving: it cannot be asked).
 */
function clientCanElicit(server: McpServer, ctx: ServerContext): boolean {
  // Typed `Partial<{}>` by SDK 2.4.0; the envelope is a plain `_meta` object.
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  const declared = envelope?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
  return (declared ?? server.server.getClientCapabilities())?.elicitation !== undefined;
}

/**
 * What the request says about a confirmation: the answer to a question this
 * gateway asked (its state already verified by the `requestState` hook),
 * `ask` when the client can be asked, or nothing.
 */
function confirmationOf(
  ctx: ServerContext,
  options: { tool: string; canAsk: boolean },
): Confirmation | { refused: string } | undefined {
  const state = ctx.mcpReq.requestState<ConfirmState | string>();
  // A string is a state no hook verified (no signer): never trusted.
  if (state !== undefined && typeof state === "object") {
    if (state.tool !== options.tool) {
      return {
        refused:
          `approval_call_mismatch: The request state was issued for ${state.tool}, not ${options.tool}; nothing ran`,
      };
    }
    const responses = ctx.mcpReq.inputResponses as Record<string, unknown> | undefined;
    if (responses?.[CONFIRM_KEY] === undefined) {
      return {
        refused:
          `approval_unanswered: The request echoed approval ${state.approvalId}'s state without an answer to "${CONFIRM_KEY}"; nothing ran`,
      };
    }
    const answer = acceptedContent(responses, CONFIRM_KEY, confirmAnswer);
    return { kind: "answer", approvalId: state.approvalId, accepted: answer?.confirm === true };
  }
  return options.canAsk ? { kind: "ask" } : undefined;
}

/**
 * A confirm rule's approval asked of a 2025-era client served without a
 * session (`--stateless`): no question can reach it inside the call, so the
 * text says what would make that possible.
 */
async function withStatelessNote(
  text: string,
  approvalId: string,
  server: McpServer,
  ctx: ServerContext,
  core: GatewayCore,
): Promise<string> {
  // A 2025 session always knows the client's capabilities after `initialize`.
  const sessionless = ctx.mcpReq.envelope === undefined &&
    server.server.getClientCapabilities() == null;
  if (!sessionless) return text;
  const approval = await core.deps.approvals?.store.get(approvalId).catch(() => undefined);
  if (!approval?.confirm) return text;
  return `${text}\nConfirming inside the call needs a 2025-era session (this gateway serves 2025-era clients with --stateless) or a 2026-07-28 client; until then approve it as said above.`;
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
  const byName = new Map(operations.map((op) => [op.name, op]));
  const visibleTo = (extra: Parameters<typeof requestIdentity>[0]): readonly Operation[] => {
    if (!perRequest) return operations;
    const caller = callerOf(extra);
    return caller === undefined ? [] : visibleOperations(core, caller);
  };
  const signer = core.requestStates;
  const server = new GuardedMcpServer(SERVER_INFO, {
    capabilities: { logging: {} },
    // Runs before the handler on every round that echoes a state (2026
    // requests and the SDK's elicitation shim alike): a state another
    // gateway key set minted, expired, or minted for another subject is
    // refused with -32602 and never reaches the tool.
    ...(signer
      ? {
        requestState: {
          verify: (state: string, ctx: ServerContext) =>
            signer.verify(state, {
              subject: (callerOf(ctx.http ?? {}) ?? { subject: "" }).subject,
              method: ctx.mcpReq.method,
            }),
        },
      }
      : {}),
    // One question per call; a person answers it (the SDK's 10 minute default).
    inputRequired: { maxRounds: 2 },
    instructions: SERVER_INSTRUCTIONS,
  }, {
    // Hidden and unknown tools read the same, per request over HTTP.
    tools: perRequest
      ? (extra) => visibleLookup(core, callerOf(extra ?? {}), { byName, schemas })
      : schemas,
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
    server.registerTool(
      operation.name,
      config,
      async (args, ctx): Promise<CallToolResult | InputRequiredResult> => {
        const caller = callerOf(ctx.http ?? {});
        if (caller === undefined) {
          return errorResult("forbidden: This request's identity does not own this session");
        }
        const token = ctx.mcpReq._meta?.progressToken;
        const signer = core.requestStates;
        const confirmation = signer && core.deps.approvals
          ? confirmationOf(ctx, { tool: operation.name, canAsk: clientCanElicit(server, ctx) })
          : undefined;
        if (confirmation && "refused" in confirmation) return errorResult(confirmation.refused);
        // A shutdown's grace period ending cuts the call like a client's cancel.
        const signal = core.inFlight
          ? AbortSignal.any([ctx.mcpReq.signal, core.inFlight.signal])
          : ctx.mcpReq.signal;
        // Progress goes out in order and before the result (a client drops
        // progress that arrives after it).
        let progressSent: Promise<void> = Promise.resolve();
        // Long-running output as log messages, when the client asked for them.
        const output = operation.streamsOutput
          ? outputLogFor(server, ctx, { tool: operation.name, scrub: core.deps.scrub })
          : undefined;
        try {
          const outcome = await callTool(core.deps, {
            identity: caller,
            operation,
            args: args as Record<string, unknown>,
            signal,
            onProgress: token === undefined ? undefined : (progress, total, message) => {
              progressSent = progressSent.then(() =>
                ctx.mcpReq.notify({
                  method: "notifications/progress",
                  params: { progressToken: token, progress, total, message },
                })
              ).catch(() => {});
            },
            confirmation,
            onOutput: output && ((target, chunk) => output.push(target, chunk)),
          });
          await output?.close();
          if (outcome.confirm && signer) {
            // Asked as an input-required result: a 2026-07-28 client answers
            // and calls again with the signed state; on 2025-era
            // connections the SDK elicits and calls this handler again.
            return inputRequired({
              inputRequests: {
                [CONFIRM_KEY]: inputRequired.elicit({
                  message: outcome.confirm.message,
                  requestedSchema: CONFIRM_FORM,
                }),
              },
              requestState: await signer.mint({
                subject: caller.subject,
                tool: operation.name,
                approvalId: outcome.confirm.approvalId,
              }, outcome.confirm.expires),
            });
          }
          await progressSent;
          core.metrics?.record(outcome.result);
          const text = outcome.result.approval && signer
            ? await withStatelessNote(outcome.text, outcome.result.approval.id, server, ctx, core)
            : outcome.text;
          return {
            content: [{ type: "text", text }],
            structuredContent: outcome.result as unknown as Record<string, unknown>,
            isError: outcome.isError,
          };
        } catch (caught) {
          await output?.close();
          // Backstop: a shared-state failure from a step outside sharedState()
          // is still refused with its one sentence, never as `internal`.
          const error = caught instanceof StateUnavailableError
            ? new CallError("shared_state_unavailable", caught.message)
            : caught;
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
            error instanceof Error && error.name === "AuditError"
              ? "audit_unavailable"
              : "internal",
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
      },
    );
  }
  serveCachedToolList(server, operations, visibleTo);
  // No list_changed notifications: the list changes only with the caller's
  // credential (seen at their next request) or a restart.
  server.server.registerCapabilities({ tools: { listChanged: false } });
  // Resources before prompts: the resource template's completions install the
  // SDK's completion/complete handler, which the prompts' handler wraps.
  serveResources(server, core, { callerOf });
  servePrompts(server, core, (ctx) => callerOf(ctx.http ?? {}));
  return server;
}
