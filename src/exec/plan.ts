/**
 * Plans: the plain data an operation turns its validated arguments into, and
 * the results executors send back. Plans never carry shell strings: programs
 * are argv arrays, Docker and HTTP calls are structured requests.
 *
 * Workers import this module; it imports only the pure path and depth checks.
 *
 * @module
 */
export { isUnderRoots } from "../config/paths.ts";
export { jsonTextTooDeep, MAX_OUTPUT_DEPTH, tooDeepMessage, valueTooDeep } from "./output_depth.ts";

/** Limits every plan carries. */
export interface PlanLimits {
  /** Milliseconds before the executor kills the work. */
  readonly timeoutMs: number;
  /** Bytes of output kept (per stream for programs); the rest is cut and reported. */
  readonly outputCapBytes: number;
}

/** Run programs on a host (local or over SSH). */
export interface ExecPlan extends PlanLimits {
  readonly kind: "exec";
  /** Each entry is one argv; `argv[0]` is a bare program name from the operation's `programs`. */
  readonly commands: readonly (readonly string[])[];
  /** `all`: run every command in order. `first_available`: run only the first whose program exists. */
  readonly mode: "all" | "first_available";
  /** Prefix `sudo -n --` (SSH targets whose sudo policy allows this operation). */
  readonly sudo: boolean;
}

/** Read one file under allowed roots. */
export interface FsReadPlan extends PlanLimits {
  readonly kind: "fs_read";
  /** Absolute, normalised path. */
  readonly path: string;
  /** The target's allowed roots; the real path (symlinks resolved) must lie under one. */
  readonly roots: readonly string[];
  /** Byte offset to start reading at. */
  readonly offset: number;
}

/** List one directory under allowed roots. */
export interface FsListPlan extends PlanLimits {
  readonly kind: "fs_list";
  /** Absolute, normalised path. */
  readonly path: string;
  /** The target's allowed roots; the real path (symlinks resolved) must lie under one. */
  readonly roots: readonly string[];
  /** Entries returned at most. */
  readonly maxEntries: number;
}

/** One request to a Docker Engine API. */
export interface DockerPlan extends PlanLimits {
  readonly kind: "docker";
  readonly method: "GET" | "POST" | "DELETE";
  /** Path without the API version prefix, e.g. `/containers/json`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  readonly body?: unknown;
  /** How to read the response body. */
  readonly response: "json" | "logs" | "stream_json" | "none";
  /**
   * When set, the container must exist on the engine before this (mutating) request is sent:
   * the worker inspects it first and fails with `not_found` otherwise. For `logs` plans the
   * inspection also tells whether the container has a TTY (its output is then not multiplexed).
   */
  readonly requireContainer?: string;
  /**
   * When set, the request is sent once per container matching these list filters
   * (`GET /containers/json?all=1&filters=...`), `{id}` in `path` standing for each container's
   * id; the result body is an array of {@linkcode DockerEachResult}. Used for compose stacks.
   */
  readonly forEach?: { readonly filters: Readonly<Record<string, readonly string[]>> };
}

/** One container's outcome in a `forEach` Docker plan. */
export interface DockerEachResult {
  readonly id: string;
  /** Container name without the leading `/`. */
  readonly name: string;
  /** HTTP status of this container's request. */
  readonly status: number;
  /** The engine's short message when the request failed, else `null`. */
  readonly message: string | null;
}

/** One request to an HTTP API target. */
export interface HttpPlan extends PlanLimits {
  readonly kind: "http";
  readonly method: "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** Path relative to the target's base URL, starting with `/`. */
  readonly path: string;
  readonly query?: Readonly<Record<string, string>>;
  /** Caller-supplied headers (already filtered by the operation's allowlist). */
  readonly headers?: Readonly<Record<string, string>>;
  /** JSON body. */
  readonly body?: unknown;
  /** Report TLS certificate expiry and latency only (`http_health`). */
  readonly health?: boolean;
}

/** Any plan. */
export type Plan = ExecPlan | FsReadPlan | FsListPlan | DockerPlan | HttpPlan;

/** What one program run produced. */
export interface CommandResult {
  /** The argv that ran (without sudo). */
  readonly argv: readonly string[];
  /** Exit code, or `null` when killed by a signal. */
  readonly exitCode: number | null;
  /** Signal name when killed, else `null`. */
  readonly signal: string | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether either stream was cut at the output cap. */
  readonly truncated: boolean;
  /** Bytes the program wrote in total (both streams, before the cap). */
  readonly bytes: number;
}

/** A file's content. */
export interface FsReadResult {
  readonly kind: "fs_read";
  /** The real path read (symlinks resolved). */
  readonly path: string;
  /** File size in bytes. */
  readonly size: number;
  /** UTF-8 text, or base64 when the bytes are not valid UTF-8. */
  readonly content: string;
  readonly encoding: "utf-8" | "base64";
  readonly truncated: boolean;
}

/** One directory entry. */
export interface DirEntry {
  readonly name: string;
  readonly type: "file" | "directory" | "symlink" | "other";
  readonly size: number | null;
  /** Modification time, ISO 8601, when known. */
  readonly mtime: string | null;
  /** Permission bits in octal, e.g. `"0644"`, when known. */
  readonly mode: string | null;
}

/** A directory listing. */
export interface FsListResult {
  readonly kind: "fs_list";
  /** The real path listed (symlinks resolved). */
  readonly path: string;
  readonly entries: readonly DirEntry[];
  readonly truncated: boolean;
}

/** Programs' results, in the plan's order (only the one that ran in `first_available` mode). */
export interface ExecResult {
  readonly kind: "exec";
  readonly commands: readonly CommandResult[];
}

/** A Docker Engine API response. */
export interface DockerResult {
  readonly kind: "docker";
  readonly status: number;
  /** Parsed JSON (`json`, `stream_json` as an array), or `null`. */
  readonly body: unknown;
  /** Demultiplexed log streams (`logs`). */
  readonly stdout?: string;
  readonly stderr?: string;
  readonly truncated: boolean;
  /** API version used for the request. */
  readonly apiVersion: string;
}

/** An HTTP target's response. */
export interface HttpResult {
  readonly kind: "http";
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Parsed JSON when the response is JSON, else text. */
  readonly body: unknown;
  readonly truncated: boolean;
  readonly latencyMs: number;
  /** TLS certificate expiry (ISO 8601) when known (`health` plans). */
  readonly certificateExpires?: string | null;
  /** Why `certificateExpires` is `null` (`health` plans). */
  readonly certificateNote?: string;
}

/** Any plan's result. */
export type PlanResult = ExecResult | FsReadResult | FsListResult | DockerResult | HttpResult;

/** Why an executor could not produce a result. Codes are stable. */
export type ExecFailureCode =
  /** The work ran past its timeout and was killed. */
  | "timeout"
  /** The target could not be reached or refused the connection. */
  | "unreachable"
  /** The target's identity could not be verified (host key, TLS). */
  | "untrusted"
  /** Authentication with the target failed. */
  | "auth_failed"
  /** A program the plan needs is not installed on the target. */
  | "program_missing"
  /** A path does not exist, or a named object (container) is absent. */
  | "not_found"
  /** The path or request lies outside what the target allows. */
  | "forbidden"
  /** The executor died while working; it has been restarted. */
  | "crashed"
  /** The call was cancelled by the client. */
  | "cancelled"
  /** The target answered with something we could not understand. */
  | "bad_response"
  /** The target's answer is valid but beyond what the gateway accepts (nested too deep). */
  | "bad_output"
  /** Anything else. */
  | "internal";

/** An executor failure: a stable code and a sentence safe to show a client. */
export interface ExecFailure {
  readonly code: ExecFailureCode;
  readonly message: string;
}
