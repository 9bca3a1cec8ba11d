/**
 * Errors inside the SSH worker: our own sentences for the client, the raw
 * cause kept apart for a `log` message to the host.
 *
 * @module
 */
import type { ExecFailure, ExecFailureCode } from "../plan.ts";

/** A failure with a stable code, a client-safe message and a raw detail for the log. */
export class SshError extends Error {
  /** Stable failure code. */
  readonly code: ExecFailureCode;
  /** Raw cause (ssh2 or socket error text), for the host's log only. */
  readonly detail: string;
  /** Whether a fresh connection attempt may succeed (refused handshake, dead pooled connection). */
  readonly retryable: boolean;

  /**
   * @param code Stable failure code.
   * @param message Client-safe sentence.
   * @param options Raw detail and whether retrying may help.
   */
  constructor(
    code: ExecFailureCode,
    message: string,
    options: { detail?: string; retryable?: boolean } = {},
  ) {
    super(message);
    this.name = "SshError";
    this.code = code;
    this.detail = options.detail ?? "";
    this.retryable = options.retryable ?? false;
  }

  /** @returns The failure to send to the host. */
  toFailure(): ExecFailure {
    return { code: this.code, message: this.message };
  }
}

/** What we know about the connection an error happened on. */
export interface ErrorContext {
  /** `host:port` as configured. */
  readonly address: string;
  readonly user: string;
  readonly connectTimeoutMs: number;
}

/**
 * Maps a raw ssh2 or socket error met while connecting to an {@linkcode SshError}.
 *
 * @param error The raw error.
 * @param context The connection's address, user and timeout.
 * @returns Our error; its `detail` holds the raw text.
 */
export function mapConnectError(error: unknown, context: ErrorContext): SshError {
  if (error instanceof SshError) return error;
  const raw = error as { message?: string; code?: string; level?: string };
  const detail = `${raw.code ?? ""} ${raw.level ?? ""} ${raw.message ?? String(error)}`.trim();
  const at = context.address;
  const make = (code: ExecFailureCode, message: string, retryable = false) =>
    new SshError(code, message, { detail, retryable });
  // ssh2 marks every failure of the agent socket (missing, refused, sandbox) this way.
  if (raw.level === "agent") {
    return make("auth_failed", `Cannot log in to ${at}: the SSH agent could not be used`);
  }
  if (error instanceof Deno.errors.NotCapable || /Requires net access/.test(raw.message ?? "")) {
    return make(
      "forbidden",
      `Cannot connect to ${at}: expected an address in the ssh executor's sandbox`,
    );
  }
  switch (raw.code) {
    case "ECONNREFUSED":
      return make("unreachable", `Cannot connect to ${at}: the connection was refused`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_NONAME":
      return make("unreachable", `Cannot connect to ${at}: the host name does not resolve`);
    case "EHOSTUNREACH":
    case "ENETUNREACH":
    case "ETIMEDOUT":
      return make("unreachable", `Cannot connect to ${at}: the host is unreachable`);
    case "ECONNRESET":
    case "EPIPE":
      return make(
        "unreachable",
        `Cannot connect to ${at}: the server dropped the connection`,
        true,
      );
  }
  if (
    raw.level === "client-timeout" ||
    /Timed out while waiting for handshake/.test(raw.message ?? "")
  ) {
    return make(
      "unreachable",
      `Cannot connect to ${at}: expected an SSH handshake within ${context.connectTimeoutMs} ms, found none`,
    );
  }
  if (raw.level === "client-authentication") {
    return make(
      "auth_failed",
      `Cannot log in to ${at} as ${
        JSON.stringify(context.user)
      }: the server refused every configured credential`,
    );
  }
  if (/Connection lost before handshake/.test(raw.message ?? "")) {
    return make(
      "unreachable",
      `Cannot connect to ${at}: the server closed the connection before the handshake`,
      true,
    );
  }
  if (/passphrase|private ?key|Unsupported key format/i.test(raw.message ?? "")) {
    return make("auth_failed", `Cannot log in to ${at}: the configured private key cannot be used`);
  }
  if (/agent/i.test(raw.message ?? "")) {
    return make("auth_failed", `Cannot log in to ${at}: the SSH agent could not be used`);
  }
  if (raw.level === "protocol" || raw.level === "handshake") {
    return make("unreachable", `Cannot connect to ${at}: the SSH handshake failed`);
  }
  return make("unreachable", `Cannot connect to ${at}: the connection failed`);
}
