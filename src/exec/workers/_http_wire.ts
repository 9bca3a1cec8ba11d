/**
 * A small HTTP/1.1 client over one already-connected (and already-checked)
 * `Deno.Conn`. The worker speaks HTTP itself instead of calling `fetch`
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

class Reader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  /** Bytes received so far. */
  received = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    this.received += n;
    if (this.#buf.length === 0) {
      // The usual case while reading a body: no copy.
      this.#buf = chunk.subarray(0, n);
      return true;
    }
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  async line(): Promise<string> {
    for (let from = 0;;) {
      const at = this.#buf.indexOf(10, from);
      if (at >= 0) {
        const line = decoder.decode(this.#buf.subarray(0, at)).replace(/\r$/, "");
        this.#buf = this.#buf.subarray(at + 1);
        return line;
      }
      from = this.#buf.length;
      if (from > MAX_HEAD_BYTES) {
        throw new BadResponseError(
          `The target sent a header line longer than ${MAX_HEAD_BYTES} bytes`,
        );
      }
      if (!await this.#fill()) throw new BadResponseError("The target closed the connection early");
    }
  }

  /** Bytes received but not consumed. */
  get buffered(): number {
    return this.#buf.length;
  }

  /** Up to `max` bytes; an empty array at end of stream. */
  async take(max: number): Promise<Uint8Array> {
    if (this.#buf.length === 0 && !await this.#fill()) return new Uint8Array(0);
    const out = this.#buf.subarray(0, max);
    this.#buf = this.#buf.subarray(out.length);
    return out;
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

/** @returns Whether the body (and, with `trailers`, its trailer section) was read to its end. */
async function readChunked(reader: Reader, body: Body, trailers: boolean): Promise<boolean> {
  for (;;) {
    const sizeLine = (await reader.line()).split(";")[0].trim();
    if (!/^[0-9A-Fa-f]{1,12}$/.test(sizeLine)) {
      throw new BadResponseError("The target sent a malformed chunk size");
    }
    let left = parseInt(sizeLine, 16);
    if (left === 0) {
      // Trailer lines up to the blank line; only worth waiting for on a kept connection.
      for (let total = 0; trailers; total++) {
        const line = await reader.line();
        if (line === "") return true;
        if (total > 100) throw new BadResponseError("The target sent too many trailer lines");
      }
      return false;
    }
    while (left > 0) {
      const part = await reader.take(left);
      if (part.length === 0) {
        throw new BadResponseError("The target closed the connection mid-body");
      }
      left -= part.length;
      if (!body.add(part)) return false;
    }
    if (await reader.line() !== "") throw new BadResponseError("The target sent a malformed chunk");
  }
}

/** @returns Whether a framed body was read to its end (never for a close-delimited one). */
async function readBody(reader: Reader, length: number | undefined, body: Body): Promise<boolean> {
  let left = length ?? Infinity;
  while (left > 0) {
    const part = await reader.take(Math.min(left, 64 * 1024));
    if (part.length === 0) {
      if (length === undefined) return false;
      throw new BadResponseError("The target closed the connection before the whole body arrived");
    }
    left -= part.length;
    if (!body.add(part)) return false;
  }
  return true;
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
  const reader = new Reader(conn);
  try {
    return await exchangeOn(conn, reader, request, capBytes, options.keepAlive === true);
  } catch (error) {
    if (options.reused && reader.received === 0) throw new NoReplyError(error);
    throw error;
  }
}

async function exchangeOn(
  conn: Deno.Conn,
  reader: Reader,
  request: WireRequest,
  capBytes: number,
  keepAlive: boolean,
): Promise<WireResponse> {
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
  const body = new Body(capBytes);
  const bodiless = request.method === "HEAD" || status === 204 || status === 304;
  const coding = headers.get("transfer-encoding")?.toLowerCase();
  let complete = true;
  if (bodiless) {
    // No body by definition.
  } else if (coding !== undefined) {
    complete = coding.split(",").at(-1)?.trim() === "chunked"
      ? await readChunked(reader, body, keepAlive)
      : await readBody(reader, undefined, body);
  } else {
    const length = contentLength(headers);
    if (length !== undefined) body.expect(length);
    complete = await readBody(reader, length, body);
  }
  const reusable = keepAlive && complete && !body.truncated && minor === 1 &&
    reader.buffered === 0 && !/(?:^|,)\s*close\s*(?:,|$)/i.test(headers.get("connection") ?? "");
  const reuseMs = reusable ? idleTimeoutMs(headers.get("keep-alive")) : 0;
  return { status, headers, body: body.bytes(), truncated: body.truncated, reuseMs };
}
