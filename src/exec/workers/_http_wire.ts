/**
 * The one HTTP/1.1 client of the workers, over one already-connected (and,
 * for the HTTP worker, already-checked) `Deno.Conn`: one response parser, one
 * chunked decoder, used by the HTTP worker ({@linkcode exchange}, body kept
 * up to a cap) and the Docker worker ({@linkcode openResponse}, body read as
 * a stream). Connections are pooled by `_conn_pool.ts`; connecting (and the
 * HTTP worker's address check, the Docker worker's unix socket) stays with
 * each worker. The workers speak HTTP themselves instead of calling `fetch`
 * because `fetch` resolves the host on its own: it cannot be told to use the
 * address the guard checked, and its TCP-socket transport does not do TLS.
 *
 * Without `keepAlive`, one request per connection (`Connection: close`).
 * With it, the response says whether the connection may carry another
 * request: only when the body was framed (Content-Length or chunked) and read
 * to its end within the cap, on HTTP/1.1, and neither side said `close`.
 * The response body is read only up to a cap; the caller closes a connection
 * that is not reusable, which also ends any body left unread. Deadlines are
 * the caller's: it closes the connection, which fails the pending read.
 *
 * @module
 */
import { idleTimeoutMs, NoReplyError } from "./_conn_pool.ts";

/** A response the target sent that is not valid HTTP/1.1. */
export class BadResponseError extends Error {
  /** @param message What was wrong, for the client. */
  constructor(message: string) {
    super(message);
    this.name = "BadResponseError";
  }
}

/** How {@linkcode exchange} treats the connection. */
export interface ExchangeOptions {
  /** Ask to keep the connection open and report whether it can be reused. */
  readonly keepAlive?: boolean;
  /** The connection carried an earlier request: a failure before any byte is a {@linkcode NoReplyError}. */
  readonly reused?: boolean;
}

/** One request, ready for the wire. */
export interface WireRequest {
  readonly method: string;
  /** Origin-form request target: path and query. */
  readonly target: string;
  /** Header lines in order; `Host`, `Connection` and `Content-Length` are added here. */
  readonly headers: readonly (readonly [string, string])[];
  readonly host: string;
  readonly body?: Uint8Array;
}

/** The response head and as much body as the cap allows. */
export interface WireResponse {
  readonly status: number;
  /** Lowercase names; repeated headers joined with `, `. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Uint8Array;
  /** Whether the body was longer than the cap. */
  readonly truncated: boolean;
  /** With `keepAlive`: ms the connection may idle before another request; `0` means close it. */
  readonly reuseMs: number;
}

const MAX_HEAD_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

/** Bytes from the connection, buffered in one reused buffer. */
class Reader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;
  /** Bytes received so far. */
  received = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  /** Reads more into the buffer; `false` at end of stream. */
  async #fill(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      if (this.#buf.length >= MAX_HEAD_BYTES) {
        throw new BadResponseError(
          `The target sent a header line longer than ${MAX_HEAD_BYTES} bytes`,
        );
      }
      const grown = new Uint8Array(this.#buf.length * 2);
      grown.set(this.#buf.subarray(0, this.#end));
      this.#buf = grown;
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    return true;
  }

  /** One line without its CR LF (a bare LF is accepted too). */
  async line(): Promise<string> {
    // Bytes after the line's start already searched for LF.
    for (let scanned = 0;;) {
      const at = this.#buf.subarray(this.#start + scanned, this.#end).indexOf(10);
      if (at >= 0) {
        const lf = this.#start + scanned + at;
        const end = lf > this.#start && this.#buf[lf - 1] === 13 ? lf - 1 : lf;
        const line = decoder.decode(this.#buf.subarray(this.#start, end));
        this.#start = lf + 1;
        return line;
      }
      scanned = this.#end - this.#start;
      if (!await this.#fill()) throw new BadResponseError("The target closed the connection early");
    }
  }

  /** Bytes received but not consumed. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Up to `max` bytes the caller may keep; an empty array at end of stream. */
  async take(max: number): Promise<Uint8Array> {
    if (this.#end > this.#start) {
      const n = Math.min(max, this.#end - this.#start);
      const out = this.#buf.slice(this.#start, this.#start + n);
      this.#start += n;
      return out;
    }
    // Nothing buffered: read straight into a buffer of the caller's own.
    const chunk = new Uint8Array(Math.min(max, 64 * 1024));
    const n = await this.#conn.read(chunk);
    if (n === null) return new Uint8Array(0);
    this.received += n;
    return chunk.subarray(0, n);
  }
}

class Body {
  readonly parts: Uint8Array[] = [];
  size = 0;
  truncated = false;
  /** One buffer for the whole body when its length is known (no second copy to join parts). */
  #whole?: Uint8Array;
  constructor(readonly cap: number) {}
  /** Sizes the body once its length is known. @param length The Content-Length. */
  expect(length: number): void {
    if (this.size === 0) this.#whole = new Uint8Array(Math.min(length, this.cap));
  }
  /** @returns `false` once the cap is reached. */
  add(bytes: Uint8Array): boolean {
    const room = this.cap - this.size;
    if (bytes.length > room) this.truncated = true;
    const kept = bytes.subarray(0, room);
    if (this.#whole && this.size + kept.length <= this.#whole.length) {
      this.#whole.set(kept, this.size);
    } else {
      if (this.#whole) {
        // More than announced: keep what the buffer holds as the first part.
        this.parts.push(this.#whole.subarray(0, this.size));
        this.#whole = undefined;
      }
      this.parts.push(kept);
    }
    this.size += kept.length;
    return !this.truncated;
  }
  bytes(): Uint8Array {
    if (this.#whole) return this.#whole.subarray(0, this.size);
    if (this.parts.length === 1) return this.parts[0];
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

interface Head {
  readonly status: number;
  readonly headers: Map<string, string>;
  /** `1` for HTTP/1.1, `0` for HTTP/1.0. */
  readonly minor: number;
}

async function readHead(reader: Reader): Promise<Head> {
  let total = 0;
  for (;;) {
    const statusLine = await reader.line();
    const m = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: .*)?$/.exec(statusLine);
    if (!m) throw new BadResponseError("The target did not answer with an HTTP/1.x status line");
    const headers = new Map<string, string>();
    for (let line = await reader.line(); line !== ""; line = await reader.line()) {
      total += line.length;
      const h = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*(.*?)[ \t]*$/.exec(line);
      if (!h || total > MAX_HEAD_BYTES) {
        throw new BadResponseError("The target sent a malformed or oversized header");
      }
      const name = h[1].toLowerCase();
      const seen = headers.get(name);
      headers.set(name, seen === undefined ? h[2] : `${seen}, ${h[2]}`);
    }
    const status = Number(m[2]);
    if (status === 101) throw new BadResponseError("The target switched protocols unasked");
    if (status >= 200) return { status, headers, minor: Number(m[1]) };
    // 1xx interim responses (e.g. 103 Early Hints) are skipped.
  }
}

/** How a body is framed: a length (`0` for none), chunked, or up to the end of the stream. */
type Framing = number | "chunked" | "close";

/**
 * The body, transfer coding removed, in one generator (each level of
 * generators costs microseconds per response); `state.ended` is set once it
 * was read to its end. A chunked body's trailer section is read to its blank
 * line only with `trailers` (worth waiting for only on a kept connection).
 */
async function* bodyOf(
  reader: Reader,
  framing: Framing,
  trailers: boolean,
  state: { ended: boolean },
): AsyncGenerator<Uint8Array> {
  if (framing !== "chunked") {
    let left = framing === "close" ? Infinity : framing;
    while (left > 0) {
      const part = await reader.take(Math.min(left, 64 * 1024));
      if (part.length === 0) {
        if (framing === "close") return;
        throw new BadResponseError(
          "The target closed the connection before the whole body arrived",
        );
      }
      left -= part.length;
      yield part;
    }
    state.ended = framing !== "close";
    return;
  }
  for (;;) {
    const sizeLine = (await reader.line()).split(";")[0].trim();
    if (!/^[0-9A-Fa-f]{1,12}$/.test(sizeLine)) {
      throw new BadResponseError("The target sent a malformed chunk size");
    }
    let left = parseInt(sizeLine, 16);
    if (left === 0) {
      for (let total = 0; trailers; total++) {
        const line = await reader.line();
        if (line === "") {
          state.ended = true;
          return;
        }
        if (total > 100) throw new BadResponseError("The target sent too many trailer lines");
      }
      return;
    }
    while (left > 0) {
      const part = await reader.take(left);
      if (part.length === 0) {
        throw new BadResponseError("The target closed the connection mid-body");
      }
      left -= part.length;
      yield part;
    }
    if (await reader.line() !== "") throw new BadResponseError("The target sent a malformed chunk");
  }
}

function contentLength(headers: ReadonlyMap<string, string>): number | undefined {
  const raw = headers.get("content-length");
  if (raw === undefined) return undefined;
  const values = new Set(raw.split(",").map((v) => v.trim()));
  const [value] = values;
  if (values.size !== 1 || !/^\d{1,15}$/.test(value)) {
    throw new BadResponseError("The target sent an invalid Content-Length");
  }
  return Number(value);
}

/** A response whose body is read as a stream. */
export interface StreamedResponse {
  readonly status: number;
  /** Lowercase names; repeated headers joined with `, `. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body, transfer coding removed; read it before releasing the connection. */
  readonly body: AsyncIterable<Uint8Array>;
  /**
   * Whether the connection can carry another request: asked with
   * `keepAlive`, an HTTP/1.1 response, the body framed (Content-Length or
   * chunked) and read to its end, nothing left over, and no `Connection: close`.
   */
  reusable(): boolean;
  /** With `keepAlive` and {@linkcode StreamedResponse.reusable}: ms it may idle; else `0`. */
  reuseMs(): number;
  /** The body's length when the response states it (Content-Length without a transfer coding). */
  readonly length?: number;
}

/**
 * Sends one request and reads the status line and headers; the body is read
 * by iterating `body`.
 *
 * @param conn A connected socket; the caller closes (or pools) it when done.
 * @param request The request.
 * @param options Keep-alive and whether the connection was reused.
 * @returns The response.
 * @throws {NoReplyError} On a `reused` connection that failed before any response byte.
 * @throws {BadResponseError} When the response is not valid HTTP/1.1 (also while the body is read).
 * @throws {Error} Whatever the socket throws (closed by a deadline, reset, TLS failure).
 */
export async function openResponse(
  conn: Deno.Conn,
  request: WireRequest,
  options: ExchangeOptions = {},
): Promise<StreamedResponse> {
  const reader = new Reader(conn);
  try {
    return await openOn(conn, reader, request, options.keepAlive === true);
  } catch (error) {
    if (options.reused && reader.received === 0) throw new NoReplyError(error);
    throw error;
  }
}

async function openOn(
  conn: Deno.Conn,
  reader: Reader,
  request: WireRequest,
  keepAlive: boolean,
): Promise<StreamedResponse> {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `Host: ${request.host}`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  lines.push(keepAlive ? "Connection: keep-alive" : "Connection: close");
  if (request.body) lines.push(`Content-Length: ${request.body.length}`);
  const head = encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
  let out = head;
  if (request.body) {
    out = new Uint8Array(head.length + request.body.length);
    out.set(head);
    out.set(request.body, head.length);
  }
  for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));

  const { status, headers, minor } = await readHead(reader);
  const bodiless = request.method === "HEAD" || status === 204 || status === 304;
  const coding = headers.get("transfer-encoding")?.toLowerCase();
  const chunked = coding !== undefined && coding.split(",").at(-1)?.trim() === "chunked";
  // Content-Length counts only without a transfer coding (RFC 9112 6.3).
  const length = bodiless ? 0 : coding === undefined ? contentLength(headers) : undefined;
  const framing: Framing = chunked ? "chunked" : length ?? "close";
  const state = { ended: false };
  const body = bodyOf(reader, framing, keepAlive, state);
  const reusable = () =>
    keepAlive && state.ended && minor === 1 && reader.buffered === 0 &&
    !/(?:^|,)\s*close\s*(?:,|$)/i.test(headers.get("connection") ?? "");
  return {
    status,
    headers,
    body,
    reusable,
    reuseMs: () => (reusable() ? idleTimeoutMs(headers.get("keep-alive")) : 0),
    ...(typeof framing === "number" && { length: framing }),
  };
}

/**
 * Sends one request and reads the response, keeping at most `capBytes` of body.
 *
 * @param conn A connected socket (TLS already started for https).
 * @param request The request.
 * @param capBytes Body bytes kept; reading stops once more arrive.
 * @param options Keep-alive and whether the connection was reused.
 * @returns The response.
 * @throws {NoReplyError} On a `reused` connection that failed before any response byte.
 * @throws {BadResponseError} When the response is not valid HTTP/1.1.
 * @throws {Error} Whatever the socket throws (closed by a deadline, reset, TLS failure).
 */
export async function exchange(
  conn: Deno.Conn,
  request: WireRequest,
  capBytes: number,
  options: ExchangeOptions = {},
): Promise<WireResponse> {
  const response = await openResponse(conn, request, options);
  const body = new Body(capBytes);
  if (response.length !== undefined) body.expect(response.length);
  for await (const part of response.body) if (!body.add(part)) break;
  return {
    status: response.status,
    headers: response.headers,
    body: body.bytes(),
    truncated: body.truncated,
    reuseMs: response.reuseMs(),
  };
}
