/**
 * Streams the output of a long-running call (package upgrades, compose) to
 * the client as MCP log messages (`notifications/message`, level `info`,
 * logger `tailops/TOOL`, data `{target, stream, text}`), while the command
 * runs and before the result.
 *
 * Only for clients that asked: a 2025-era session at or below `info` (its
 * `logging/setLevel`; on by default), a 2026-07-28 request whose envelope
 * carries a log level at or below `info`; never a 2025-era request served
 * without a session (it could not turn it off). A level raised mid-call
 * stops the messages (the SDK checks each one).
 *
 * Bounded: whole lines only (a line is cut at {@linkcode LINE_MAX}
 * characters), at most {@linkcode MESSAGE_MAX} characters a message,
 * {@linkcode BURST} messages at once and then one per
 * {@linkcode INTERVAL_MS}, {@linkcode QUEUE_MAX} characters waiting (later
 * lines are dropped and counted), {@linkcode TOTAL_MAX} characters a call
 * (then one notice and nothing more). Every message passes through the same
 * scrubber as results, so no known secret leaves in any encoding.
 *
 * @module
 */
import type { OutputChunk } from "../exec/protocol.ts";
import { LOG_LEVEL_META_KEY, type McpServer, type ServerContext } from "./sdk.ts";

/** Longest line sent; the rest of the line is dropped. */
export const LINE_MAX = 1024;
/** Most characters of output in one message. */
export const MESSAGE_MAX = 4096;
/** Messages sent without waiting. */
export const BURST = 8;
/** Then one message per this many milliseconds. */
export const INTERVAL_MS = 250;
/** Most characters waiting to be sent; lines beyond are dropped and counted. */
export const QUEUE_MAX = 32 * 1024;
/** Most characters of output sent for one call. */
export const TOTAL_MAX = 256 * 1024;

/** RFC 5424 severities, as MCP orders them. */
const LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"];

/** What the client receives, without the scrubbing. */
export type LogSend = (
  level: "info" | "notice",
  data: Record<string, unknown>,
) => Promise<void>;

interface Line {
  readonly target: string;
  readonly stream: OutputChunk["stream"];
  readonly text: string;
}

/** One target's stream being cut into lines. */
interface Splitter {
  readonly target: string;
  readonly stream: OutputChunk["stream"];
  readonly decoder: TextDecoder;
  partial: string;
  /** The current line was cut at LINE_MAX: drop until its end. */
  cutting: boolean;
}

// Terminal escapes and control characters (not tab) are left out of the text.
// deno-lint-ignore no-control-regex
const ESCAPES = /\x1b\[[0-9;?]*[ -\/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** One call's output, on its way to the client as log messages. */
export class OutputLog {
  readonly #send: LogSend;
  readonly #scrub: (text: string) => string;
  readonly #totalMax: number;
  readonly #splitters = new Map<string, Splitter>();
  readonly #queue: Line[] = [];
  #queued = 0;
  #dropped = 0;
  #sent = 0;
  #tokens = BURST;
  #refilled = Date.now();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #closed = false;
  /** Messages go out one after another, in order. */
  #chain: Promise<void> = Promise.resolve();

  /**
   * @param send Sends one log message to the client.
   * @param options `scrub` removes known secret values (the gateway's result
   *   scrubber); `totalMax` lowers {@linkcode TOTAL_MAX}.
   */
  constructor(send: LogSend, options: { scrub: (text: string) => string; totalMax?: number }) {
    this.#send = send;
    this.#scrub = options.scrub;
    this.#totalMax = Math.min(options.totalMax ?? TOTAL_MAX, TOTAL_MAX);
  }

  /**
   * Takes output of one target as the executor sends it.
   *
   * @param target The target id.
   * @param chunk Its bytes (any cut: lines are reassembled here).
   */
  push(target: string, chunk: OutputChunk): void {
    if (this.#closed || this.#stopped) return;
    const key = `${chunk.stream} ${target}`;
    let splitter = this.#splitters.get(key);
    if (!splitter) {
      splitter = {
        target,
        stream: chunk.stream,
        decoder: new TextDecoder("utf-8", { fatal: false }),
        partial: "",
        cutting: false,
      };
      this.#splitters.set(key, splitter);
    }
    const text = splitter.decoder.decode(chunk.bytes, { stream: true });
    // A "\r" at the end may be the first half of "\r\n": it waits for the next chunk.
    const parts = (splitter.partial + text).split(/\r\n|\r(?!$)|\n/);
    splitter.partial = "";
    const last = parts.pop()!;
    for (const part of parts) this.#line(splitter, part, "complete");
    this.#line(splitter, last, "open");
    if (chunk.skipped) {
      // The worker dropped bytes here: whatever line was open ends, cut.
      const open = splitter.partial;
      splitter.partial = "";
      this.#line(splitter, open, "gap");
      this.#enqueue({ target, stream: chunk.stream, text: `[${chunk.skipped} bytes not shown]` });
    }
    this.#pump();
  }

  /**
   * Sends what is left (open lines too) and waits until every message is
   * out. Call before the result goes out.
   *
   * @returns When the last message has been handed to the transport.
   */
  async close(): Promise<void> {
    if (this.#closed) return await this.#chain;
    for (const splitter of this.#splitters.values()) {
      const open = (splitter.partial + splitter.decoder.decode()).replace(/\r$/, "");
      if (open !== "") this.#line(splitter, open, "complete");
    }
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    // The rest goes now: the queue is bounded, and the result is waiting.
    while (this.#queue.length > 0 && !this.#stopped) this.#message();
    await this.#chain;
  }

  /**
   * One line of a stream: `complete` (its end was seen), `open` (the end is
   * yet to come: kept unless too long) or `gap` (ended by skipped output).
   */
  #line(splitter: Splitter, text: string, how: "complete" | "open" | "gap"): void {
    const complete = how !== "open";
    const gap = how === "gap";
    if (splitter.cutting) {
      if (complete) splitter.cutting = false;
      return;
    }
    if (!complete) {
      if (text.length <= LINE_MAX) {
        splitter.partial = text;
        return;
      }
      splitter.cutting = true;
    }
    // Before scrubbing: an escape inside a secret must not hide it.
    text = text.replace(ESCAPES, "");
    if (text.length > LINE_MAX) {
      // Scrubbed alone first: a secret cut at the end is masked as a cut one.
      text = `${this.#scrub(text.slice(0, LINE_MAX))} […]`;
    } else if (gap && text === "") {
      return;
    } else if (gap) {
      text = `${this.#scrub(text)} […]`;
    }
    this.#enqueue({ target: splitter.target, stream: splitter.stream, text });
  }

  #enqueue(line: Line): void {
    if (this.#queued + line.text.length > QUEUE_MAX) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queued += line.text.length;
  }

  /** Sends what the rate allows now, and schedules the rest. */
  #pump(): void {
    const now = Date.now();
    this.#tokens = Math.min(BURST, this.#tokens + (now - this.#refilled) / INTERVAL_MS);
    this.#refilled = now;
    while (this.#queue.length > 0 && this.#tokens >= 1 && !this.#stopped) {
      this.#tokens--;
      this.#message();
    }
    if (this.#queue.length > 0 && !this.#stopped && this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#pump();
      }, Math.ceil((1 - this.#tokens) * INTERVAL_MS));
    }
  }

  /** One message: the first queued lines of one target and stream. */
  #message(): void {
    const first = this.#queue[0];
    const lines: string[] = [];
    let size = 0;
    while (this.#queue.length > 0) {
      const next = this.#queue[0];
      if (next.target !== first.target || next.stream !== first.stream) break;
      if (lines.length > 0 && size + next.text.length + 1 > MESSAGE_MAX) break;
      this.#queue.shift();
      this.#queued -= next.text.length;
      lines.push(next.text);
      size += next.text.length + 1;
    }
    const text = this.#scrub(lines.join("\n"));
    const dropped = this.#dropped;
    this.#dropped = 0;
    this.#sent += text.length;
    const data = {
      target: first.target,
      stream: first.stream,
      text,
      ...(dropped > 0 ? { lines_dropped: dropped } : {}),
    };
    this.#chain = this.#chain.then(() => this.#send("info", data)).catch(() => {});
    if (this.#sent >= this.#totalMax) {
      this.#stopped = true;
      clearTimeout(this.#timer);
      this.#timer = undefined;
      const note = {
        note:
          `Output streaming stopped after ${this.#sent} characters; the result carries the output`,
      };
      this.#chain = this.#chain.then(() => this.#send("notice", note)).catch(() => {});
    }
  }
}

/**
 * Whether the client of this request receives log messages at `level`.
 *
 * @param server The request's server.
 * @param ctx The request.
 * @param level The level.
 * @returns `true` when a message at that level would reach the client.
 */
export function wantsLogs(server: McpServer, ctx: ServerContext, level: string): boolean {
  const envelope = ctx.mcpReq.envelope as Record<string, unknown> | undefined;
  if (envelope !== undefined) {
    const threshold = envelope[LOG_LEVEL_META_KEY];
    return typeof threshold === "string" && LEVELS.indexOf(level) >= LEVELS.indexOf(threshold);
  }
  // A 2025-era request served without a session: it could not set a level.
  if (server.server.getClientCapabilities() == null) return false;
  // The SDK keeps each session's `logging/setLevel`; its check is not typed public.
  const sdk = server.server as unknown as {
    isMessageIgnored?: (level: string, sessionId?: string) => boolean;
  };
  return sdk.isMessageIgnored?.(level, ctx.sessionId) !== true;
}

/**
 * The output log of one tool call, or `undefined` when its client would
 * not receive `info` messages (then nothing is streamed at all).
 *
 * @param server The request's server.
 * @param ctx The request.
 * @param options The tool (the logger's name) and the scrubber.
 * @returns The log, or `undefined`.
 */
export function outputLogFor(
  server: McpServer,
  ctx: ServerContext,
  options: { tool: string; scrub: (text: string) => string },
): OutputLog | undefined {
  if (!wantsLogs(server, ctx, "info")) return undefined;
  const logger = `tailops/${options.tool}`;
  return new OutputLog((level, data) => ctx.mcpReq.log(level, data, logger), {
    scrub: options.scrub,
  });
}
