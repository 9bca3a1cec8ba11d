/**
 * A minimal HTTP/1.1 client over one `Deno.Conn`, bodies read as a stream so
 * callers can stop at a cap. Enough for the Docker Engine API, nothing more.
 * Without `keepAlive` one request per connection (`Connection: close`); with
 * it, the response says whether the connection may carry another request.
 *
 * @module
 */
import { NoReplyError } from "./_conn_pool.ts";

const MAX_HEAD_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/** The request line and headers to send. */
export interface HttpRequest {
  readonly method: string;
  /** Origin-form target: path and query string. */
  readonly target: string;
  /** JSON body, already serialised. */
  readonly body?: string;
}

/** A response whose body has not been read yet. */
export interface HttpResponse {
  readonly status: number;
  /** Header names lowercased. */
  readonly headers: ReadonlyMap<string, string>;
  /** The decoded body (chunked transfer coding removed). */
  readonly body: AsyncIterable<Uint8Array>;
  /**
   * Whether the connection can carry another request: asked with `keepAlive`,
   * an HTTP/1.1 final response, the body framed (Content-Length or chunked)
   * and read to its end, nothing left over, and no `Connection: close`.
   */
  reusable(): boolean;
}

/** How {@linkcode sendRequest} treats the connection. */
export interface SendOptions {
  /** Ask to keep the connection open. */
  readonly keepAlive?: boolean;
  /** The connection carried an earlier request: a failure before any byte is a {@linkcode NoReplyError}. */
  readonly reused?: boolean;
}

/** The peer broke the HTTP protocol. */
export class HttpProtocolError extends Error {
  /** @param message What was wrong. */
  constructor(message: string) {
    super(message);
    this.name = "HttpProtocolError";
  }
}

class ByteReader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  /** Bytes received so far. */
  received = 0;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  async fill(): Promise<boolean> {
    if (this.#start > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    if (this.#end === this.#buf.length) {
      throw new HttpProtocolError("Response line too long");
    }
    const n = await this.#conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#end += n;
    this.received += n;
    return true;
  }

  async line(): Promise<string> {
    for (;;) {
      const view = this.#buf.subarray(this.#start, this.#end);
      const at = view.findIndex((b, i) => b === 13 && view[i + 1] === 10);
      if (at >= 0) {
        const text = latin1.decode(view.subarray(0, at));
        this.#start += at + 2;
        return text;
      }
      if (!await this.fill()) throw new HttpProtocolError("Connection closed inside headers");
    }
  }

  /** Up to `max` bytes (copied); `null` at end of stream. */
  async some(max: number): Promise<Uint8Array | null> {
    if (this.buffered === 0 && !await this.fill()) return null;
    const n = Math.min(max, this.buffered);
    const out = this.#buf.slice(this.#start, this.#start + n);
    this.#start += n;
    return out;
  }
}

async function* fixedBody(reader: ByteReader, length: number): AsyncGenerator<Uint8Array> {
  let left = length;
  while (left > 0) {
    const chunk = await reader.some(left);
    if (chunk === null) throw new HttpProtocolError("Connection closed inside the body");
    left -= chunk.length;
    yield chunk;
  }
}

async function* closeBody(reader: ByteReader): AsyncGenerator<Uint8Array> {
  for (let chunk = await reader.some(65536); chunk; chunk = await reader.some(65536)) yield chunk;
}

async function* chunkedBody(reader: ByteReader): AsyncGenerator<Uint8Array> {
  for (;;) {
    const size = parseInt((await reader.line()).split(";")[0].trim(), 16);
    if (!Number.isFinite(size) || size < 0) throw new HttpProtocolError("Bad chunk size");
    if (size === 0) {
      while ((await reader.line()) !== "");
      return;
    }
    yield* fixedBody(reader, size);
    if ((await reader.line()) !== "") throw new HttpProtocolError("Bad chunk end");
  }
}

/**
 * Sends one request and reads the status line and headers.
 *
 * @param conn An open connection; the caller closes (or pools) it when done.
 * @param request Method, target and optional JSON body.
 * @param options Keep-alive and whether the connection was reused.
 * @returns The response; read `body` before closing the connection.
 * @throws {NoReplyError} On a `reused` connection that failed before any response byte.
 * @throws {HttpProtocolError} When the response is not HTTP/1.x.
 * @throws {Deno.errors.ConnectionReset} And other I/O errors from the connection.
 */
export async function sendRequest(
  conn: Deno.Conn,
  request: HttpRequest,
  options: SendOptions = {},
): Promise<HttpResponse> {
  const reader = new ByteReader(conn);
  try {
    return await send(conn, reader, request, options.keepAlive === true);
  } catch (error) {
    if (options.reused && reader.received === 0) throw new NoReplyError(error);
    throw error;
  }
}

async function send(
  conn: Deno.Conn,
  reader: ByteReader,
  request: HttpRequest,
  keepAlive: boolean,
): Promise<HttpResponse> {
  const body = request.body === undefined ? undefined : encoder.encode(request.body);
  const head = [
    `${request.method} ${request.target} HTTP/1.1`,
    "Host: docker",
    "User-Agent: tailops",
    keepAlive ? "Connection: keep-alive" : "Connection: close",
    ...(body ? ["Content-Type: application/json", `Content-Length: ${body.length}`] : []),
    "",
    "",
  ].join("\r\n");
  const bytes = encoder.encode(head);
  await writeAll(conn, body ? concat(bytes, body) : bytes);
  const statusLine = await reader.line();
  const status = /^HTTP\/1\.([01]) (\d{3})/.exec(statusLine);
  if (!status) throw new HttpProtocolError("Not an HTTP/1.1 response");
  const headers = new Map<string, string>();
  let headBytes = statusLine.length;
  for (let line = await reader.line(); line !== ""; line = await reader.line()) {
    headBytes += line.length;
    if (headBytes > MAX_HEAD_BYTES) throw new HttpProtocolError("Headers too large");
    const colon = line.indexOf(":");
    if (colon > 0) {
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
  }
  const code = Number(status[2]);
  const length = headers.get("content-length");
  if (length !== undefined && !/^\d{1,15}$/.test(length)) {
    throw new HttpProtocolError("Bad Content-Length");
  }
  const noBody = request.method === "HEAD" || code === 204 || code === 304 || code < 200;
  const chunked = /chunked/i.test(headers.get("transfer-encoding") ?? "");
  const stream = noBody
    ? fixedBody(reader, 0)
    : chunked
    ? chunkedBody(reader)
    : length !== undefined
    ? fixedBody(reader, Number(length))
    : closeBody(reader);
  let ended = false;
  async function* tracked(): AsyncGenerator<Uint8Array> {
    yield* stream;
    ended = true;
  }
  const framed = noBody || chunked || length !== undefined;
  const keep = keepAlive && framed && code >= 200 && status[1] === "1" &&
    !/(?:^|,)\s*close\s*(?:,|$)/i.test(headers.get("connection") ?? "");
  return {
    status: code,
    headers,
    body: tracked(),
    reusable: () => keep && ended && reader.buffered === 0,
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.length;) done += await conn.write(bytes.subarray(done));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
