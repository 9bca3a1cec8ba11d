/**
 * Sits between a transport and the SDK's server on both transports: answers
 * malformed `tools/call` requests with a precise -32602 (the SDK answers
 * `arguments: "x"` with -32603 and a zod dump), refuses new calls while the
 * gateway shuts down, and counts each request in {@linkcode InFlight} until
 * its response has been written.
 *
 * @module
 */
import { withRequestExtra } from "./request_context.ts";
import { MAX_OUTPUT_DEPTH, valueTooDeep } from "../exec/output_depth.ts";
import type { InFlight } from "./in_flight.ts";
import {
  isRpcId,
  kindOf,
  RPC_ERROR,
  rpcError,
  type RpcErrorResponse,
  type RpcId,
} from "./rpc_message.ts";
import type { JSONRPCMessage, MessageExtraInfo, Transport } from "./sdk.ts";

/** A tool's input schema, as far as the guard uses it. */
export interface ArgumentSchema {
  safeParse(value: unknown): {
    success: boolean;
    error?: { issues: readonly { path: readonly PropertyKey[]; message: string }[] };
  };
}

/**
 * The tools a caller can see, by name, with their input schemas (a `Map`
 * is one). Only the called tool is looked up, so a per-request view need not
 * work out every visible tool.
 */
export interface ToolLookup {
  has(name: string): boolean;
  get(name: string): ArgumentSchema | undefined;
}

/** What the guard checks requests against. */
export interface GuardOptions {
  /**
   * The tools the caller can see, with their input schemas: fixed, or looked
   * up per message from what the transport says about it (its `authInfo`).
   */
  readonly tools: ToolLookup | ((extra: MessageExtraInfo | undefined) => ToolLookup);
  /** Requests in flight across the gateway; without it nothing is counted. */
  readonly inFlight?: InFlight;
  /** Told of every tool call refused here, before any tool runs (for the audit log). */
  readonly onRefused?: (refusal: GuardRefusal, extra: MessageExtraInfo | undefined) => void;
}

/** A tool call the guard refused. */
export interface GuardRefusal {
  /** `unknown_tool` (unknown or hidden), `bad_arguments`, or `bad_request` (no usable name). */
  readonly reason: "unknown_tool" | "bad_arguments" | "bad_request";
  /** The tool named, when there was a name. */
  readonly tool?: string;
  /** The sentence the client got. */
  readonly message: string;
  /** The arguments, for `bad_arguments`. */
  readonly args?: Record<string, unknown>;
}

type Message = Record<string, unknown>;

/** Whether a request carries the MCP 2026-07-28 envelope (its protocol version in `_meta`). */
function isModern(params: Message | undefined): boolean {
  const meta = params?._meta as Message | undefined;
  return typeof meta?.["io.modelcontextprotocol/protocolVersion"] === "string";
}

function quoteName(name: string): string {
  return JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
}

/**
 * Checks a `tools/call` request's params.
 *
 * @param params The request's params (already known to be an object or absent).
 * @param tools The tools the caller can see.
 * @returns The error sentence and code, or undefined when the shape is right.
 */
export function checkToolCall(
  params: Message | undefined,
  tools: Pick<ToolLookup, "has">,
): { code: number; message: string } | undefined {
  const invalid = (message: string) => ({ code: RPC_ERROR.invalidParams, message });
  if (params === undefined) {
    return invalid(
      'Invalid params: tools/call needs "params" with the tool "name" and its "arguments"',
    );
  }
  const name = params.name;
  if (typeof name !== "string" || name === "") {
    return invalid(
      `Invalid params: expected "params.name" to be a tool name (a non-empty string), found ${
        name === "" ? "an empty string" : name === undefined ? "nothing" : kindOf(name)
      }`,
    );
  }
  // Unknown and hidden tools read the same (a caller cannot probe for tools
  // it may not use); MCP 2025-11-25 answers an unknown tool with -32602.
  if (!tools.has(name)) {
    return invalid(`Tool ${quoteName(name)} not found: tools/list shows the tools you can call`);
  }
  const args = params.arguments;
  if (
    args !== undefined && (typeof args !== "object" || args === null || Array.isArray(args))
  ) {
    return invalid(
      `Invalid params: expected "params.arguments" to be an object of named arguments, found ${
        kindOf(args)
      }`,
    );
  }
  return undefined;
}

/** Longest argument error sent back; the rest is summarised. */
const MAX_ARGUMENT_ERROR = 600;

/**
 * Checks a call's arguments against its tool's schema and describes every
 * problem on one line (the SDK joins zod issues with line breaks).
 *
 * @param tool The tool's name.
 * @param schema Its input schema.
 * @param args The arguments (an object, or absent).
 * @returns The sentence, or undefined when the arguments are valid.
 */
export function argumentProblem(
  tool: string,
  schema: ArgumentSchema,
  args: unknown,
): string | undefined {
  // Schema validation recurses: nesting it cannot survive is refused first,
  // with the same limit as a target's output.
  if (valueTooDeep(args, MAX_OUTPUT_DEPTH)) {
    return `Invalid arguments for ${tool}: values are nested more than ${MAX_OUTPUT_DEPTH} levels deep`;
  }
  let parsed;
  try {
    parsed = schema.safeParse(args ?? {});
  } catch (error) {
    if (error instanceof RangeError) {
      return `Invalid arguments for ${tool}: too large to check (${error.message})`;
    }
    return undefined; // An async refinement: the SDK's own validation decides.
  }
  if (parsed.success || !parsed.error) return undefined;
  const issues = parsed.error.issues.map((issue) =>
    issue.path.length === 0
      ? issue.message
      : `${issue.message} at ${issue.path.map(String).join(".")}`
  );
  let text = `Invalid arguments for ${tool}: ${issues.join("; ")}`.replace(/\s*\n\s*/g, " ");
  if (text.length > MAX_ARGUMENT_ERROR) text = `${text.slice(0, MAX_ARGUMENT_ERROR)}…`;
  return text;
}

/**
 * An error answer whose message is a zod issue dump (the SDK's -32603 for
 * params that fail its schema, e.g. `logging/setLevel` with an unknown level)
 * becomes -32602 with one sentence; every other message is unchanged.
 *
 * @param message An outgoing message.
 * @returns The message to send.
 */
export function oneLineErrors(message: JSONRPCMessage): JSONRPCMessage {
  const error = (message as Message).error as { code?: unknown; message?: unknown } | undefined;
  if (error?.code !== RPC_ERROR.internalError || typeof error.message !== "string") return message;
  const text = error.message.replace(/^MCP error -?\d+: /, "");
  if (!text.startsWith("[")) return message;
  let issues: unknown;
  try {
    issues = JSON.parse(text);
  } catch {
    return message;
  }
  if (!Array.isArray(issues) || issues.length === 0) return message;
  const sentences = issues.map((issue: { message?: unknown; path?: unknown }) => {
    const what = typeof issue?.message === "string" ? issue.message : "invalid value";
    const path = Array.isArray(issue?.path) && issue.path.length > 0
      ? ` at ${issue.path.map(String).join(".")}`
      : "";
    return `${what}${path}`.replace(/\s*\n\s*/g, " ");
  });
  let line = `Invalid params: ${sentences.join("; ")}`;
  if (line.length > MAX_ARGUMENT_ERROR) line = `${line.slice(0, MAX_ARGUMENT_ERROR)}…`;
  return {
    ...(message as Message),
    error: { code: RPC_ERROR.invalidParams, message: line },
  } as JSONRPCMessage;
}

/**
 * Wraps a transport with the guard. Connect the SDK's server to the returned
 * transport (wrapping before `connect` means no message can reach the SDK
 * unchecked, even one read while `connect` starts the transport).
 *
 * @param inner The transport (its `onclose` and `onerror`, when set, are still called).
 * @param options The caller's tools and the gateway's in-flight count.
 * @returns The transport to connect the server to.
 */
export function guardTransport(inner: Transport, options: GuardOptions): Transport {
  const pending = new Map<RpcId, () => void>();
  const release = (id: unknown) => {
    if (!isRpcId(id)) return;
    pending.get(id)?.();
    pending.delete(id);
  };
  const refuse = (error: RpcErrorResponse) => inner.send(error as JSONRPCMessage).catch(() => {});
  const innerOnClose = inner.onclose;
  const innerOnError = inner.onerror;

  const guarded: Transport = {
    start: () => inner.start(),
    close: () => inner.close(),
    async send(message, sendOptions) {
      try {
        await inner.send(oneLineErrors(message), sendOptions);
      } finally {
        const sent = message as Message;
        if (!Object.hasOwn(sent, "method")) release(sent.id);
      }
    },
    get sessionId() {
      return inner.sessionId;
    },
    setProtocolVersion(version: string) {
      inner.setProtocolVersion?.(version);
    },
  };
  inner.onclose = () => {
    for (const id of [...pending.keys()]) release(id);
    innerOnClose?.();
    guarded.onclose?.();
  };
  inner.onerror = (error) => {
    innerOnError?.(error);
    guarded.onerror?.(error);
  };
  inner.onmessage = (message: JSONRPCMessage, extra?: MessageExtraInfo) => {
    const m = message as Message;
    const method = m.method;
    if (method === "notifications/cancelled") {
      // The SDK sends nothing for a cancelled request: stop counting it.
      release((m.params as Message | undefined)?.requestId);
    }
    if (typeof method === "string" && isRpcId(m.id)) {
      const id = m.id;
      if (pending.has(id)) {
        refuse(
          rpcError(
            id,
            RPC_ERROR.invalidRequest,
            `Invalid request: id ${JSON.stringify(id)} is already used by a request in flight`,
          ),
        );
        return;
      }
      if (method === "tools/call") {
        const params = m.params as Message | undefined;
        const tools = typeof options.tools === "function" ? options.tools(extra) : options.tools;
        const problem = checkToolCall(params, tools);
        if (problem) {
          const name = params?.name;
          options.onRefused?.(
            typeof name === "string"
              ? { reason: "unknown_tool", tool: name, message: problem.message }
              : { reason: "bad_request", message: problem.message },
            extra,
          );
          return void refuse(rpcError(id, problem.code, problem.message));
        }
        // Wrong argument values are a tool error the model can correct
        // (MCP 2025-11-25), in one line with a stable code.
        const name = params!.name as string;
        const invalid = argumentProblem(name, tools.get(name)!, params!.arguments);
        if (invalid) {
          options.onRefused?.({
            reason: "bad_arguments",
            tool: name,
            message: invalid,
            args: params!.arguments as Record<string, unknown>,
          }, extra);
          inner.send({
            jsonrpc: "2.0",
            id,
            result: {
              // MCP 2026-07-28 results name their type; earlier revisions have none.
              ...(isModern(params) ? { resultType: "complete" } : {}),
              content: [{ type: "text", text: `invalid_arguments: ${invalid}` }],
              isError: true,
            },
          } as JSONRPCMessage).catch(() => {});
          return;
        }
        if (options.inFlight?.stopping) {
          return void refuse(
            rpcError(
              id,
              RPC_ERROR.shuttingDown,
              "The gateway is shutting down and takes no new calls: retry once it is back",
            ),
          );
        }
      }
      if (options.inFlight) pending.set(id, options.inFlight.begin());
    }
    // Code the SDK calls without the request (completion callbacks) can still tell whose it is.
    withRequestExtra(extra, () => guarded.onmessage?.(message, extra));
  };
  return guarded;
}
