/**
 * The JSON-RPC envelope of one incoming message, checked before the SDK sees
 * it, so that every malformed message gets a one-line JSON-RPC error with the
 * right code instead of a zod dump, an `internal` error or silence. Both
 * transports use it: stdio per line, HTTP per request body.
 *
 * The checks are written out by hand rather than as a zod schema because each
 * failure needs its own sentence and code (-32700 parse error, -32600 invalid
 * request, -32602 invalid params); the SDK's `parseJSONRPCMessage` still runs
 * last as a backstop.
 *
 * @module
 */
import { type JSONRPCMessage, parseJSONRPCMessage } from "./sdk.ts";

/**
 * Largest message accepted on either transport, in bytes (the HTTP body
 * limit and the stdio line limit): well above the largest valid tool call,
 * whose arguments are at most a few KiB.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024;

/** JSON-RPC 2.0 error codes the gateway answers with. */
export const RPC_ERROR = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
  /** Implementation-defined: the gateway is stopping. */
  shuttingDown: -32000,
} as const;

/** A request id as JSON-RPC allows it for MCP (never null). */
export type RpcId = string | number;

/** A JSON-RPC error response. */
export interface RpcErrorResponse {
  jsonrpc: "2.0";
  id: RpcId | null;
  error: { code: number; message: string };
}

/**
 * Builds a JSON-RPC error response.
 *
 * @param id The request's id, or null when it could not be read.
 * @param code A code from {@linkcode RPC_ERROR}.
 * @param message One sentence for the client.
 * @returns The response.
 */
export function rpcError(id: RpcId | null, code: number, message: string): RpcErrorResponse {
  return { jsonrpc: "2.0", id, error: { code, message } };
}

/** What a JSON value is, in words for error messages. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "object":
      return "an object";
    case "string":
      return "a string";
    case "number":
      return Number.isInteger(value) ? "an integer" : "a number";
    case "boolean":
      return "a boolean";
    default:
      return typeof value;
  }
}

/**
 * Whether a value is a usable request id: a string (at most 256 characters,
 * so that echoing it back stays small) or a safe integer.
 */
export function isRpcId(value: unknown): value is RpcId {
  return (typeof value === "string" && value.length <= 256) ||
    (typeof value === "number" && Number.isSafeInteger(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Checks the envelope of one parsed JSON value.
 *
 * @param value What `JSON.parse` returned for one message.
 * @returns The message, or the error response to send (for a notification,
 *   which never gets a response, `respond` is false).
 */
export function checkRpcMessage(
  value: unknown,
): { message: JSONRPCMessage } | { error: RpcErrorResponse; respond: boolean } {
  if (Array.isArray(value)) {
    return invalid(
      null,
      RPC_ERROR.invalidRequest,
      "Invalid request: batches are not supported (MCP 2025-06-18 removed them); send one message at a time",
    );
  }
  if (!isPlainObject(value)) {
    return invalid(
      null,
      RPC_ERROR.invalidRequest,
      `Invalid request: expected a JSON-RPC message object, found ${kindOf(value)}`,
    );
  }
  const hasId = Object.hasOwn(value, "id");
  const id = hasId && isRpcId(value.id) ? value.id : null;
  // A response is never answered, even a malformed one (a peer doing the
  // same would make the two answer each other forever).
  const looksLikeResponse = !Object.hasOwn(value, "method") &&
    (Object.hasOwn(value, "result") || Object.hasOwn(value, "error"));
  if (hasId && id === null) {
    return invalid(
      null,
      RPC_ERROR.invalidRequest,
      `Invalid request: expected "id" to be a string of at most 256 characters or an integer, found ${
        kindOf(value.id)
      }`,
      !looksLikeResponse,
    );
  }
  if (value.jsonrpc !== "2.0") {
    return invalid(
      id,
      RPC_ERROR.invalidRequest,
      `Invalid request: expected "jsonrpc": "2.0", found ${
        typeof value.jsonrpc === "string"
          ? JSON.stringify(value.jsonrpc.slice(0, 20))
          : kindOf(value.jsonrpc)
      }`,
      !looksLikeResponse,
    );
  }
  const isResponse = !Object.hasOwn(value, "method");
  if (isResponse) {
    const results = Number(Object.hasOwn(value, "result")) + Number(Object.hasOwn(value, "error"));
    if (!hasId || results !== 1) {
      return invalid(
        id,
        RPC_ERROR.invalidRequest,
        'Invalid request: expected a "method" (a request or notification), or an "id" with exactly one of "result" or "error" (a response)',
        !looksLikeResponse,
      );
    }
  } else {
    if (typeof value.method !== "string" || value.method === "") {
      return invalid(
        id,
        RPC_ERROR.invalidRequest,
        `Invalid request: expected "method" to be a non-empty string, found ${
          kindOf(value.method)
        }`,
      );
    }
    if (Object.hasOwn(value, "params") && !isPlainObject(value.params)) {
      return invalid(
        id,
        RPC_ERROR.invalidParams,
        `Invalid params: expected "params" to be an object, found ${kindOf(value.params)}`,
        hasId,
      );
    }
    const meta = (value.params as Record<string, unknown> | undefined)?._meta;
    if (meta !== undefined && !isPlainObject(meta)) {
      return invalid(
        id,
        RPC_ERROR.invalidParams,
        `Invalid params: expected "params._meta" to be an object, found ${kindOf(meta)}`,
        hasId,
      );
    }
    const token = isPlainObject(meta) ? meta.progressToken : undefined;
    if (token !== undefined && !isRpcId(token)) {
      return invalid(
        id,
        RPC_ERROR.invalidParams,
        `Invalid params: expected "params._meta.progressToken" to be a string or an integer, found ${
          kindOf(token)
        }`,
        hasId,
      );
    }
  }
  let parsed: JSONRPCMessage;
  try {
    parsed = parseJSONRPCMessage(value);
  } catch {
    return invalid(
      id,
      RPC_ERROR.invalidRequest,
      "Invalid request: the message is not a JSON-RPC 2.0 request, notification or response",
      isResponse ? !looksLikeResponse : hasId,
    );
  }
  return { message: parsed };
}

function invalid(id: RpcId | null, code: number, message: string, respond = true) {
  return { error: rpcError(id, code, message), respond };
}

/**
 * Parses and checks one message's text.
 *
 * @param text The message (one stdio line, or one HTTP body).
 * @returns The message, or the error response to send.
 */
export function parseRpcMessage(
  text: string,
): { message: JSONRPCMessage } | { error: RpcErrorResponse; respond: boolean } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // V8's message quotes the input; the client already has it.
    return invalid(
      null,
      RPC_ERROR.parseError,
      text.trim() === ""
        ? "Parse error: expected a JSON-RPC message, found an empty line"
        : "Parse error: the message is not valid JSON",
    );
  }
  return checkRpcMessage(value);
}
