/**
 * Sends a running command's output to the host in `output` messages: the
 * bytes kept since the last message, at most every
 * {@linkcode OUTPUT_FLUSH_MS}, at most {@linkcode OUTPUT_PENDING_MAX} bytes
 * per stream held in between (the rest is counted as `skipped`). Whatever
 * is held goes out when the run ends, before its result.
 *
 * @module
 */
import {
  OUTPUT_FLUSH_MS,
  OUTPUT_PENDING_MAX,
  type OutputChunk,
  type WorkerResponse,
} from "../protocol.ts";

type Stream = OutputChunk["stream"];

/** Longest first stderr line a {@linkcode OutputTapOptions.hideFirstStderrLine} test looks at. */
const FIRST_LINE_MAX = 64;

/** Options for {@linkcode OutputTap}. */
export interface OutputTapOptions {
  /**
   * A first stderr line the gateway itself made the remote shell write (the
   * `first_available` marker): left out of the stream when it matches.
   */
  readonly hideFirstStderrLine?: RegExp;
}

/** One run's output stream to the host. */
export class OutputTap {
  readonly #id: number;
  readonly #post: (message: WorkerResponse, transfer: Transferable[]) => void;
  readonly #hide: RegExp | undefined;
  readonly #pending = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[] };
  readonly #held = { stdout: 0, stderr: 0 };
  readonly #skipped = { stdout: 0, stderr: 0 };
  /** Stderr bytes held until its first line is known (see `hideFirstStderrLine`). */
  #head: Uint8Array | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * @param id The run's id.
   * @param post Posts a message to the host (with buffers to transfer).
   * @param options What to leave out.
   */
  constructor(
    id: number,
    post: (message: WorkerResponse, transfer: Transferable[]) => void,
    options: OutputTapOptions = {},
  ) {
    this.#id = id;
    this.#post = post;
    this.#hide = options.hideFirstStderrLine;
    if (this.#hide) this.#head = new Uint8Array(0);
  }

  /**
   * Takes bytes a command wrote (only what the result keeps).
   *
   * @param stream Which stream.
   * @param bytes The bytes; copied, the caller may reuse its buffer.
   */
  push(stream: Stream, bytes: Uint8Array): void {
    if (this.#closed || bytes.length === 0) return;
    if (stream === "stderr" && this.#head !== undefined) {
      const head = new Uint8Array(this.#head.length + bytes.length);
      head.set(this.#head);
      head.set(bytes, this.#head.length);
      const newline = head.indexOf(10);
      if (newline < 0 && head.length < FIRST_LINE_MAX) {
        this.#head = head;
        return;
      }
      this.#head = undefined;
      const line = new TextDecoder().decode(head.subarray(0, newline < 0 ? 0 : newline));
      bytes = newline >= 0 && this.#hide!.test(line) ? head.subarray(newline + 1) : head;
      if (bytes.length === 0) return;
    }
    const room = OUTPUT_PENDING_MAX - this.#held[stream];
    const kept = bytes.subarray(0, Math.max(0, room));
    if (kept.length > 0) {
      this.#pending[stream].push(kept.slice());
      this.#held[stream] += kept.length;
    }
    this.#skipped[stream] += bytes.length - kept.length;
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, OUTPUT_FLUSH_MS);
  }

  /** Sends what is held, one message per stream. */
  flush(): void {
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#held[stream] === 0 && this.#skipped[stream] === 0) continue;
      const bytes = new Uint8Array(this.#held[stream]);
      let at = 0;
      for (const part of this.#pending[stream]) {
        bytes.set(part, at);
        at += part.length;
      }
      const skipped = this.#skipped[stream];
      this.#pending[stream] = [];
      this.#held[stream] = 0;
      this.#skipped[stream] = 0;
      this.#post(
        { type: "output", id: this.#id, stream, bytes, ...(skipped > 0 ? { skipped } : {}) },
        [bytes.buffer],
      );
    }
  }

  /** Sends what is held (a held first stderr line too) and stops: call before posting the result. */
  close(): void {
    if (this.#closed) return;
    if (this.#head !== undefined && this.#head.length > 0) {
      const head = this.#head;
      this.#head = undefined;
      const line = new TextDecoder().decode(head);
      if (!this.#hide!.test(line.replace(/\n$/, ""))) this.push("stderr", head);
    }
    this.#head = undefined;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.flush();
    this.#closed = true;
  }
}
