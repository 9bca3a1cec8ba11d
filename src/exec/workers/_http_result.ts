/**
 * What leaves the HTTP worker: secret scrubbing, and the mapping of every
 * error to a stable code and a sentence of our own. Raw socket and TLS error
 * text never reaches the client.
 *
 * @module
 */
import { type ExecFailure, type HttpResult, jsonTextTooDeep, tooDeepMessage } from "../plan.ts";
import { type ResultText, TRANSFER_TEXT_MIN } from "../protocol.ts";
import { type CompiledTarget, RESPONSE_HEADER_ALLOWLIST } from "./_http_config.ts";
import { BadResponseError, type WireResponse } from "./_http_wire.ts";

/** A refusal or failure with its stable code, thrown inside the worker. */
export class HttpFailure extends Error {
  /** Stable failure code. */
  readonly code: ExecFailure["code"];
  /**
   * @param code Stable failure code.
   * @param message A sentence safe to show a client.
   */
  constructor(code: ExecFailure["code"], message: string) {
    super(message);
    this.name = "HttpFailure";
    this.code = code;
  }
}

/** What replaces a secret value in results. */
export const REDACTED = "[REDACTED]";

/** Shortest secret scrubbed; shorter values would mangle ordinary text. */
const MIN_SECRET = 4;

/**
 * Replaces every occurrence of a secret (plain and JSON-escaped) with
 * {@linkcode REDACTED}. When the text was cut, a secret's prefix at the very
 * end is removed too.
 *
 * @param text The text.
 * @param secrets Secret values.
 * @param cut Whether the text was truncated.
 * @returns The scrubbed text.
 */
export function redact(text: string, secrets: readonly string[], cut: boolean): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length < MIN_SECRET) continue;
    for (const form of new Set([secret, JSON.stringify(secret).slice(1, -1)])) {
      out = out.replaceAll(form, REDACTED);
      if (!cut) continue;
      for (let k = Math.min(form.length - 1, out.length); k >= MIN_SECRET; k--) {
        if (out.endsWith(form.slice(0, k))) {
          out = out.slice(0, -k) + REDACTED;
          break;
        }
      }
    }
  }
  return out;
}

function tlsReason(message: string, host: string): string {
  if (/UnknownIssuer|unknown ca|self.signed/i.test(message)) {
    return "the certificate is not signed by a trusted CA (set tls.ca for a private CA)";
  }
  if (/not valid for name|NotValidForName/i.test(message)) {
    return `the certificate does not name ${JSON.stringify(host)}`;
  }
  if (/expired/i.test(message)) return "the certificate has expired";
  return "the TLS handshake failed";
}

/** What {@linkcode toFailure} needs to know. */
export interface FailureContext {
  readonly target: CompiledTarget;
  /** The client's cancel signal. */
  readonly signal: AbortSignal;
  /** Cancel or timeout, whichever came first. */
  readonly deadline: AbortSignal;
  readonly timeoutMs: number;
}

/**
 * Maps anything thrown while running a plan to an {@linkcode HttpFailure}.
 *
 * @param error What was thrown.
 * @param context The target and the signals in force.
 * @returns The failure to report.
 */
export function toFailure(error: unknown, context: FailureContext): HttpFailure {
  const { target } = context;
  const who = `target ${JSON.stringify(target.id)}`;
  if (error instanceof HttpFailure) return error;
  if (context.signal.aborted) return new HttpFailure("cancelled", "The call was cancelled");
  if (context.deadline.aborted) {
    return new HttpFailure(
      "timeout",
      `The request to ${who} took longer than ${context.timeoutMs} ms and was stopped`,
    );
  }
  if (error instanceof BadResponseError) {
    return new HttpFailure("bad_response", `${error.message} (${who})`);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Deno.errors.NotCapable) {
    return new HttpFailure(
      "forbidden",
      `The executor's sandbox does not allow connecting to ${who}`,
    );
  }
  if (error instanceof Deno.errors.InvalidData && /certificate|tls|handshake/i.test(message)) {
    return new HttpFailure(
      "untrusted",
      `Cannot verify ${who}: ${tlsReason(message, target.hostname)}`,
    );
  }
  if (error instanceof Deno.errors.ConnectionRefused) {
    return new HttpFailure("unreachable", `Cannot connect to ${who}: the connection was refused`);
  }
  if (/lookup|resolve|dns|name or service/i.test(message)) {
    return new HttpFailure(
      "unreachable",
      `Cannot connect to ${who}: its host name does not resolve`,
    );
  }
  if (error instanceof Deno.errors.TimedOut) {
    return new HttpFailure("unreachable", `Cannot connect to ${who}: the connection timed out`);
  }
  if (
    error instanceof Error &&
    /^(?:Connection|BrokenPipe|UnexpectedEof|Interrupted|BadResource|NotConnected)/.test(error.name)
  ) {
    return new HttpFailure("unreachable", `The connection to ${who} was lost`);
  }
  return new HttpFailure("internal", `The request to ${who} failed unexpectedly`);
}

/**
 * Turns a response into the plan result: allowlisted headers, the body as
 * JSON when it is JSON (and whole) else text, secrets scrubbed from both.
 *
 * @param target The target (for its secrets).
 * @param method The method of the last request (HEAD has no body).
 * @param response The response.
 * @param latencyMs Time from the start of the call to the end of the body.
 * @param texts Where a long text body goes as bytes instead of a string (see
 *   `ResultText`): only when the target has no secrets to scrub from it.
 * @returns The result.
 * @throws {HttpFailure} `bad_output` when a JSON body nests deeper than the gateway accepts.
 */
export function buildResult(
  target: CompiledTarget,
  method: string,
  response: WireResponse,
  latencyMs: number,
  texts?: ResultText[],
): HttpResult {
  const headers: Record<string, string> = {};
  for (const name of RESPONSE_HEADER_ALLOWLIST) {
    const value = response.headers.get(name);
    if (value !== undefined) headers[name] = redact(value, target.secrets, false);
  }
  const type = response.headers.get("content-type") ?? "";
  const json = /^(?:application\/(?:[\w.+-]+\+)?json|text\/json)\b/i.test(type);
  if (
    texts && method !== "HEAD" && target.secrets.length === 0 &&
    response.body.length >= TRANSFER_TEXT_MIN && (!json || response.truncated)
  ) {
    // Text the worker would only decode and clone: the host decodes the bytes instead.
    texts.push({ path: ["body"], bytes: response.body });
    return {
      kind: "http",
      status: response.status,
      headers,
      body: "",
      truncated: response.truncated,
      latencyMs,
    };
  }
  const text = redact(new TextDecoder().decode(response.body), target.secrets, response.truncated);
  let body: unknown = method === "HEAD" ? null : text;
  if (
    !response.truncated && text.trim() !== "" && json
  ) {
    if (jsonTextTooDeep(text)) {
      throw new HttpFailure(
        "bad_output",
        tooDeepMessage(`The JSON response of target ${JSON.stringify(target.id)}`),
      );
    }
    try {
      body = JSON.parse(text);
    } catch {
      // Not valid JSON after all: returned as text.
    }
  }
  return {
    kind: "http",
    status: response.status,
    headers,
    body,
    truncated: response.truncated,
    latencyMs,
  };
}
