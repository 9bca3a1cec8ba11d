/**
 * Messages between the executor host (main thread) and executor workers.
 * Workers import this module and plan.ts, nothing else from the gateway.
 *
 * @module
 */
import type { ExecFailure, Plan, PlanResult } from "./plan.ts";

/**
 * Strings of a result at least this long travel as UTF-8 bytes whose buffer
 * is transferred to the host, not as strings: a cloned string is copied
 * into a serialization buffer and again into the host's heap, and the
 * worker's own copy lingers until its next garbage collection.
 */
export const TRANSFER_TEXT_MIN = 64 * 1024;

/**
 * One string of a result sent as bytes: the result holds `""` at `path`, and
 * the host puts the decoded text there (invalid UTF-8 becomes U+FFFD, as the
 * workers' own decoding does).
 */
export interface ResultText {
  readonly path: readonly (string | number)[];
  readonly bytes: Uint8Array;
}

/**
 * The buffers a worker transfers with a result's texts.
 *
 * @param texts The texts.
 * @returns Each underlying buffer once.
 */
export function textBuffers(texts: readonly ResultText[]): ArrayBuffer[] {
  return [...new Set(texts.map((t) => t.bytes.buffer as ArrayBuffer))];
}

/**
 * Puts a result's texts in place (host side).
 *
 * @param result The result as received (the host owns it).
 * @param texts The texts that came with it.
 * @returns The same result, its placeholders replaced.
 * @throws {TypeError} When a path does not lead to a `""` placeholder.
 */
export function placeTexts(result: PlanResult, texts: readonly ResultText[] = []): PlanResult {
  const decoder = new TextDecoder("utf-8", { fatal: false });
  for (const { path, bytes } of texts) {
    let node = result as unknown as Record<string | number, unknown>;
    for (const key of path.slice(0, -1)) {
      node = node?.[key] as Record<string | number, unknown>;
    }
    const last = path.at(-1);
    if (last === undefined || node === null || typeof node !== "object" || node[last] !== "") {
      throw new TypeError(
        `Invalid result text: expected a "" placeholder at ${JSON.stringify(path)}`,
      );
    }
    node[last] = decoder.decode(bytes);
  }
  return result;
}

/**
 * How often a worker sends the output a command wrote since its last
 * `output` message (see {@linkcode OutputChunk}).
 */
export const OUTPUT_FLUSH_MS = 200;

/**
 * Bytes a worker holds per stream between two `output` messages; what a
 * command writes beyond that before the next one is dropped from the
 * stream (not from the result) and counted in `skipped`.
 */
export const OUTPUT_PENDING_MAX = 16 * 1024;

/**
 * A piece of a command's stdout or stderr sent while it runs, when the run
 * asked for it (`stream: true`). Only bytes the result keeps are sent (the
 * output cap applies), so a stream never carries more than the result.
 * Long-running operations forward these to the client as log messages.
 */
export interface OutputChunk {
  readonly stream: "stdout" | "stderr";
  /** The bytes, in order; a UTF-8 character may be split across chunks. */
  readonly bytes: Uint8Array;
  /** Bytes written after these and dropped before the next chunk (the worker kept up no faster). */
  readonly skipped?: number;
}

/** Host → worker. */
export type WorkerRequest =
  /** Sent once after start: per-target connection settings with secrets revealed. */
  | { readonly type: "configure"; readonly config: unknown }
  /**
   * Run a plan on a target. With `stream`, exec plans send `output`
   * messages while they run (workers of other plan kinds ignore it).
   */
  | {
    readonly type: "run";
    readonly id: number;
    readonly target: string;
    readonly plan: Plan;
    readonly stream?: boolean;
  }
  /** Stop a running plan (client cancelled). */
  | { readonly type: "cancel"; readonly id: number };

/** Worker → host. */
export type WorkerResponse =
  /** Configuration accepted; the worker takes work. */
  | { readonly type: "ready" }
  /** Configuration refused; the message says why. */
  | { readonly type: "config_error"; readonly message: string }
  | {
    readonly type: "result";
    readonly id: number;
    readonly ok: true;
    readonly result: PlanResult;
    /** Long strings of the result, sent as UTF-8 bytes (see {@linkcode ResultText}). */
    readonly texts?: readonly ResultText[];
  }
  | {
    readonly type: "result";
    readonly id: number;
    readonly ok: false;
    readonly error: ExecFailure;
  }
  /** A step of a long run (e.g. a Proxmox task still running), for progress notifications. */
  | { readonly type: "progress"; readonly id: number; readonly message: string }
  /** Output of a run that asked for it, sent before its result (see {@linkcode OutputChunk}). */
  | ({ readonly type: "output"; readonly id: number } & OutputChunk)
  /** A log line for the host's logger (workers have no other output). */
  | {
    readonly type: "log";
    readonly level: "debug" | "info" | "warning" | "error";
    readonly message: string;
    readonly properties?: Readonly<Record<string, unknown>>;
  };
