/**
 * A small HTTP/1.1 client over one already-connected (and already-checked)
 * `Deno.Conn`. The worker speaks HTTP itself instead of calling `fetch`
 * because `fetch` resolves the host on its own: it cannot be told to use the
 * address the guard checked, and its TCP-socket transport does not do TLS.
 *
 * One request per connection (`Connection: close`). The response body is
 * read only up to a cap; the caller closes the connection afterwards, which
 * also ends any body left unread. Deadlines are the caller's: it closes the
 * connection, which fails the pending read.
 *
 * @module
 */

/** A response the target sent that is not valid HTTP/1.1. */
export class BadResponseError extends Error {
  /** @param message What was wrong, for the client. */
  constructor(message: string) {
    super(message);
    this.name = "BadResponseError";
  }
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
}

const MAX_HEAD_BYTES = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder("latin1");

class Reader {
  readonly #conn: Deno.Conn;
  #buf = new Uint8Array(0);

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
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
  constructor(readonly cap: number) {}
  /** @returns `false` once the cap is reached. */
  add(bytes: Uint8Array): boolean {
    const room = this.cap - this.size;
    if (bytes.length > room) this.truncated = true;
    const kept = bytes.subarray(0, room);
    this.parts.push(kept);
    this.size += kept.length;
    return !this.truncated;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }
}

async function readHead(reader: Reader): Promise<{ status: number; headers: Map<string, string> }> {
  let total = 0;
  for (;;) {
    const statusLine = await reader.line();
    const m = /^HTTP\/1\.[01] ([1-5]\d\d)(?: .*)?$/.exec(statusLine);
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
    const status = Number(m[1]);
    if (status === 101) throw new BadResponseError("The target switched protocols unasked");
    if (status >= 200) return { status, headers };
    // 1xx interim responses (e.g. 103 Early Hints) are skipped.
  }
}

async function readChunked(reader: Reader, body: Body): Promise<void> {
  for (;;) {
    const sizeLine = (await reader.line()).split(";")[0].trim();
    if (!/^[0-9A-Fa-f]{1,12}$/.test(sizeLine)) {
      throw new BadResponseError("The target sent a malformed chunk size");
    }
    let left = parseInt(sizeLine, 16);
    if (left === 0) return;
    while (left > 0) {
      const part = await reader.take(left);
      if (part.length === 0) {
        throw new BadResponseError("The target closed the connection mid-body");
      }
      left -= part.length;
      if (!body.add(part)) return;
    }
    if (await reader.line() !== "") throw new BadResponseError("The target sent a malformed chunk");
  }
}

async function readBody(reader: Reader, length: number | undefined, body: Body): Promise<void> {
  let left = length ?? Infinity;
  while (left > 0) {
    const part = await reader.take(Math.min(left, 64 * 1024));
    if (part.length === 0) {
      if (length === undefined) return;
      throw new BadResponseError("The target closed the connection before the whole body arrived");
    }
    left -= part.length;
    if (!body.add(part)) return;
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

/**
 * Sends one request and reads the response, keeping at most `capBytes` of body.
 *
 * @param conn A connected socket (TLS already started for https).
 * @param request The request.
 * @param capBytes Body bytes kept; reading stops once more arrive.
 * @returns The response.
 * @throws {BadResponseError} When the response is not valid HTTP/1.1.
 * @throws {Error} Whatever the socket throws (closed by a deadline, reset, TLS failure).
 */
export async function exchange(
  conn: Deno.Conn,
  request: WireRequest,
  capBytes: number,
): Promise<WireResponse> {
  const lines = [`${request.method} ${request.target} HTTP/1.1`, `Host: ${request.host}`];
  for (const [name, value] of request.headers) lines.push(`${name}: ${value}`);
  lines.push("Connection: close");
  if (request.body) lines.push(`Content-Length: ${request.body.length}`);
  const head = encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
  let out = head;
  if (request.body) {
    out = new Uint8Array(head.length + request.body.length);
    out.set(head);
    out.set(request.body, head.length);
  }
  for (let at = 0; at < out.length;) at += await conn.write(out.subarray(at));

  const reader = new Reader(conn);
  const { status, headers } = await readHead(reader);
  const body = new Body(capBytes);
  const bodiless = request.method === "HEAD" || status === 204 || status === 304;
  const coding = headers.get("transfer-encoding")?.toLowerCase();
  if (bodiless) {
    // No body by definition.
  } else if (coding !== undefined) {
    if (coding.split(",").at(-1)?.trim() === "chunked") await readChunked(reader, body);
    else await readBody(reader, undefined, body);
  } else {
    await readBody(reader, contentLength(headers), body);
  }
  return { status, headers, body: body.bytes(), truncated: body.truncated };
}
