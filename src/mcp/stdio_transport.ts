/**
 * MCP over stdio, owned by the gateway: newline-delimited JSON-RPC on a byte
 * stream, with every line bounded. The SDK's stdio transport (v1) buffers a
 * line without limit and closes the session on its 10 MB cap, and drops
 * malformed lines silently; this one refuses an oversized line with a
 * JSON-RPC error (its id recovered by a constant-memory scan), skips the rest
 * of it without buffering, answers every malformed line with a parse or
 * invalid-request error, and keeps serving.
 *
 * It also keeps count of the requests it has read and not yet answered, so
 * that a client which writes its requests and closes its input at once still
 * gets every answer: the SDK's stdio entry queues messages while it builds a
 * server, so the gateway's own in-flight count cannot see them yet.
 *
 * It implements the SDK's `Transport` interface, which SDK v2 keeps, and
 * works in both directions (tests use it as a client transport).
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import { IdScanner } from "./_id_scanner.ts";
import { idleWithin } from "./in_flight.ts";
import {
  isRpcId,
  MAX_MESSAGE_BYTES,
  parseRpcMessage,
  RPC_ERROR,
  rpcError,
  type RpcErrorResponse,
  type RpcId,
} from "./rpc_message.ts";
import type { JSONRPCMessage, Transport } from "./sdk.ts";

const log = getLogger(["tailops", "stdio"]);

const NEWLINE = 0x0a;
/** Malformed lines logged one by one before the log only counts them. */
const LOGGED_REFUSALS = 10;

/** Options for {@linkcode StdioTransport}. */
export interface StdioTransportOptions {
  /** Largest message in bytes (default {@linkcode MAX_MESSAGE_BYTES}). */
  maxMessageBytes?: number;
}

/** A JSON-RPC transport over a pair of byte streams (stdin/stdout). */
export class StdioTransport implements Transport {
  /** Called with each valid incoming message. */
  onmessage?: (message: JSONRPCMessage) => void;
  /** Called once when the input ends or {@linkcode close} is called. */
  onclose?: () => void;
  /** Called on a read or write failure (not on a malformed message: that gets an answer). */
  onerror?: (error: Error) => void;
  /**
   * Awaited when the input ends, before the transport closes: a client that
   * writes its requests and then closes stdin still gets every answer.
   */
  onInputEnd?: () => Promise<unknown>;

  readonly #input: ReadableStream<Uint8Array>;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #max: number;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });
  readonly #encoder = new TextEncoder();
  #reader?: ReadableStreamDefaultReader<Uint8Array>;
  /** Pieces of the current line while it fits. */
  #parts: Uint8Array[] = [];
  #size = 0;
  /** Set while skipping the rest of an oversized line. */
  #skipping: IdScanner | null = null;
  #lastWrite: Promise<void> = Promise.resolve();
  #refused = 0;
  /** Requests read and not yet answered, by id (a count: a duplicate id is its own request). */
  readonly #unanswered = new Map<RpcId, number>();
  #answeredAll: (() => void)[] = [];
  #started = false;
  #closed = false;
  #ended!: () => void;
  readonly #whenClosed = new Promise<void>((resolve) => (this.#ended = resolve));

  /**
   * @param input Where messages come from (`Deno.stdin.readable`).
   * @param output Where messages go (`Deno.stdout.writable`).
   * @param options The message size limit.
   */
  constructor(
    input: ReadableStream<Uint8Array>,
    output: WritableStream<Uint8Array>,
    options: StdioTransportOptions = {},
  ) {
    this.#input = input;
    this.#writer = output.getWriter();
    this.#max = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
  }

  /**
   * Starts reading. The returned promise resolves at once; reading goes on
   * until the input ends or the transport is closed.
   *
   * @throws {Error} When already started.
   */
  start(): Promise<void> {
    if (this.#started) throw new Error("The stdio transport is already started");
    this.#started = true;
    this.#reader = this.#input.getReader();
    this.#read(this.#reader);
    return Promise.resolve();
  }

  /**
   * Writes one message as a line. Writes are kept in order.
   *
   * @param message The message.
   * @returns When it has been handed to the output stream.
   */
  send(message: JSONRPCMessage | RpcErrorResponse): Promise<void> {
    this.#settle(answeredId(message));
    return this.#write(message);
  }

  /**
   * Waits until every request read so far has been answered (or cancelled by
   * the client), or `ms` has passed.
   *
   * @param ms Longest wait.
   * @returns True when no request read is left unanswered.
   */
  answered(ms: number): Promise<boolean> {
    if (this.#unanswered.size === 0) return Promise.resolve(true);
    return idleWithin((resolve) => this.#answeredAll.push(resolve), ms);
  }

  /** Requests read and not yet answered. */
  get unanswered(): number {
    let count = 0;
    for (const n of this.#unanswered.values()) count += n;
    return count;
  }

  #write(message: JSONRPCMessage | RpcErrorResponse): Promise<void> {
    const line = this.#encoder.encode(JSON.stringify(message) + "\n");
    const write = this.#lastWrite.then(() => this.#writer.write(line));
    this.#lastWrite = write.catch((error) => {
      this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    });
    return write;
  }

  /**
   * Stops reading, waits for queued writes, and calls `onclose` once.
   *
   * @returns When every message sent so far has been written.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Not awaited: a cancel can wait on the source (a tee's other branch).
    this.#reader?.cancel().catch(() => {});
    await this.#lastWrite;
    this.#parts = [];
    this.onclose?.();
    this.#ended();
  }

  /**
   * Settles once the transport has closed (input ended or {@linkcode close}
   * called), whoever holds `onclose` (the SDK's stdio entry takes it).
   */
  get closed(): Promise<void> {
    return this.#whenClosed;
  }

  #track(message: JSONRPCMessage): void {
    const m = message as { method?: unknown; id?: unknown; params?: { requestId?: unknown } };
    if (typeof m.method !== "string") return;
    if (isRpcId(m.id)) {
      this.#unanswered.set(m.id, (this.#unanswered.get(m.id) ?? 0) + 1);
    } else if (m.method === "notifications/cancelled" && isRpcId(m.params?.requestId)) {
      // A cancelled request gets no answer (MCP): stop waiting for one.
      this.#settle(m.params.requestId);
    }
  }

  #settle(id: unknown): void {
    if (!isRpcId(id)) return;
    const count = this.#unanswered.get(id);
    if (count === undefined) return;
    if (count > 1) this.#unanswered.set(id, count - 1);
    else this.#unanswered.delete(id);
    if (this.#unanswered.size === 0) {
      for (const resolve of this.#answeredAll.splice(0)) {
        resolve();
      }
    }
  }

  async #read(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
    try {
      while (!this.#closed) {
        const { value, done } = await reader.read();
        if (done) break;
        this.#push(value);
      }
      // A last line without its newline is still a message.
      if (!this.#closed && (this.#size > 0 || this.#skipping)) this.#endLine(true);
    } catch (error) {
      if (!this.#closed) this.onerror?.(error instanceof Error ? error : new Error(String(error)));
    }
    if (!this.#closed) await this.onInputEnd?.().catch(() => {});
    await this.close();
  }

  #push(chunk: Uint8Array): void {
    let start = 0;
    while (start < chunk.length && !this.#closed) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      this.#append(chunk.subarray(start, end));
      if (newline === -1) return;
      this.#endLine();
      start = newline + 1;
    }
  }

  #append(piece: Uint8Array): void {
    if (piece.length === 0) return;
    if (this.#skipping) {
      this.#skipping.push(piece);
      return;
    }
    if (this.#size + piece.length <= this.#max) {
      // Copy: the stream may reuse the chunk's buffer.
      this.#parts.push(piece.slice());
      this.#size += piece.length;
      return;
    }
    // Over the limit: keep only what finds the id, drop the rest as it comes.
    const scanner = new IdScanner();
    for (const part of this.#parts) scanner.push(part);
    scanner.push(piece);
    this.#skipping = scanner;
    this.#parts = [];
  }

  /** @param atEnd The input ended without a newline after this line. */
  #endLine(atEnd = false): void {
    const skipped = this.#skipping;
    const bytes = concat(this.#parts, this.#size);
    this.#parts = [];
    this.#size = 0;
    this.#skipping = null;
    if (skipped) {
      this.#refuse(
        rpcError(
          skipped.id,
          RPC_ERROR.invalidRequest,
          `Message too large: expected at most ${this.#max} bytes per message; the message was skipped`,
        ),
      );
      return;
    }
    let text: string;
    try {
      text = this.#decoder.decode(bytes);
    } catch {
      this.#refuse(
        rpcError(null, RPC_ERROR.parseError, "Parse error: the message is not valid UTF-8"),
      );
      return;
    }
    if (text.endsWith("\r")) text = text.slice(0, -1);
    const parsed = parseRpcMessage(text);
    if ("message" in parsed) {
      this.#track(parsed.message);
      this.onmessage?.(parsed.message);
      return;
    }
    if (atEnd && parsed.error.error.code === RPC_ERROR.parseError) {
      // Most likely a client that quit while writing: say so once, plainly.
      log.warn(
        "The client closed stdin in the middle of a message ({bytes} bytes after the last newline are not valid JSON): answered with a parse error",
        { bytes: bytes.length },
      );
      this.#write(parsed.error).catch(() => {});
      return;
    }
    if (parsed.respond) this.#refuse(parsed.error);
    else this.#note(parsed.error.error.message);
  }

  #refuse(error: RpcErrorResponse): void {
    this.#note(error.error.message);
    // Not `send`: an id recovered from a bad line may belong to a request in flight.
    this.#write(error).catch(() => {});
  }

  #note(message: string): void {
    this.#refused++;
    if (this.#refused <= LOGGED_REFUSALS) {
      log.warn("Refused a stdio message: {reason}", { reason: message });
    } else if (this.#refused % 1000 === 0) {
      log.warn("Refused {count} stdio messages so far", { count: this.#refused });
    }
  }
}

/** The id a response (result or error) answers; undefined for requests and notifications. */
function answeredId(message: JSONRPCMessage | RpcErrorResponse): unknown {
  const m = message as { method?: unknown; id?: unknown };
  return m.method === undefined && ("result" in m || "error" in m) ? m.id : undefined;
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}
