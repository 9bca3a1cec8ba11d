/**
 * Bridges node:http to a fetch-style handler: each `IncomingMessage` becomes
 * a Web `Request` (its body streamed, its `signal` aborted when the client
 * goes away) and the handler's `Response` is written back, streamed chunk by
 * chunk (Server-Sent Events reach the client as they are produced).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { Buffer } from "node:buffer";
import { getLogger } from "@logtape/logtape";

const log = getLogger(["tailops", "http", "listener"]);

/** Answers one request; `peer` is the client's address. */
export type FetchHandler = (request: Request, peer: Deno.NetAddr) => Response | Promise<Response>;

function badRequest(res: ServerResponse, message: string): void {
  const body = JSON.stringify({ error: "invalid_request", error_description: message });
  res.writeHead(400, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(body),
    Connection: "close",
  });
  res.end(body);
}

function requestBody(req: IncomingMessage): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      req.on("data", (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        // Backpressure: stop reading the socket until the consumer pulls.
        if ((controller.desiredSize ?? 1) <= 0) req.pause();
      });
      req.once("end", () => controller.close());
      req.once("error", (error) => controller.error(error));
      req.once("aborted", () => controller.error(new Error("The client aborted the request")));
    },
    pull() {
      req.resume();
    },
    cancel() {
      req.resume();
    },
  }, { highWaterMark: 4 });
}

/**
 * A body with a `Content-Length` up to this size is read whole before the
 * handler runs (an MCP message is a few hundred bytes): one buffer instead of
 * a stream fed chunk by chunk. Larger or chunked bodies are streamed, so a
 * refusal (413, 401) still goes out before they are read.
 */
const WHOLE_BODY_BYTES = 64 * 1024;

/** The declared body length when the body is small enough to read whole, else undefined. */
function smallBodyLength(req: IncomingMessage): number | undefined {
  if (req.headers["transfer-encoding"] !== undefined) return undefined;
  const declared = req.headers["content-length"];
  if (declared === undefined || !/^\d{1,6}$/.test(declared)) return undefined;
  const length = Number(declared);
  return length <= WHOLE_BODY_BYTES ? length : undefined;
}

/**
 * Reads a body of known length whole (node:http's parser holds the client
 * to its `Content-Length`).
 *
 * @returns The bytes, or undefined when the request ended or failed short of them.
 */
function wholeBody(req: IncomingMessage, length: number): Promise<Uint8Array | undefined> {
  return new Promise((resolve) => {
    const body = new Uint8Array(length);
    let at = 0;
    const done = (bytes: Uint8Array | undefined) => {
      req.off("data", onData);
      resolve(bytes);
    };
    const onData = (chunk: Buffer) => {
      if (at + chunk.byteLength > length) return done(undefined);
      body.set(chunk, at);
      at += chunk.byteLength;
    };
    req.on("data", onData);
    req.once("end", () => done(at === length ? body : undefined));
    req.once("error", () => done(undefined));
    req.once("aborted", () => done(undefined));
  });
}

function toRequest(
  req: IncomingMessage,
  origin: string,
  options: { signal: AbortSignal; body?: Uint8Array },
): Request {
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  const request = new Request(origin + req.url, {
    method,
    signal: options.signal,
    ...(!hasBody
      ? {}
      : options.body !== undefined
      ? { body: options.body }
      : { body: requestBody(req), duplex: "half" }),
  } as RequestInit);
  // Appended to the Request's own list: a `headers` init would be copied
  // through WebIDL's conversion (sorted, combined, ~20 KB per request).
  const headers = request.headers;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  return request;
}

const WAITING = Symbol("waiting");
const NOW = Promise.resolve(WAITING);

/**
 * The read's result when it has already settled, else {@linkcode WAITING}
 * (the read stays pending: await it later). A read settles at once when the
 * stream already holds a chunk or has closed, as the SDK's stream has right
 * after it enqueues an answer.
 */
function settledNow<T>(read: Promise<T>): Promise<T | typeof WAITING> {
  // Both may be settled: `race` takes the first in order, so a settled read wins.
  return Promise.race([read, NOW]);
}

async function writeResponse(
  response: Response,
  res: ServerResponse,
  closed: AbortSignal,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  // forEach, not the iterator: no result object per header.
  let cookies = false;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") headers[name] = value;
    else cookies = true;
  });
  if (cookies) headers["set-cookie"] = response.headers.getSetCookie();
  if (response.body === null) {
    res.writeHead(response.status, response.statusText || undefined, headers);
    res.end();
    return;
  }
  if (!String(response.headers.get("content-type")).startsWith("text/event-stream")) {
    // Every answer but an event stream is one JSON or text document: one
    // write with its length.
    const body = new Uint8Array(await response.arrayBuffer());
    if (response.status !== 204 && response.status !== 304) {
      headers["content-length"] = String(body.byteLength);
    }
    res.writeHead(response.status, response.statusText || undefined, headers);
    res.end(body);
    return;
  }
  const reader = response.body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  closed.addEventListener("abort", cancel, { once: true });
  try {
    res.writeHead(response.status, response.statusText || undefined, headers);
    // Sent at once, not held for the first event: the client reads the
    // headers while the call runs (holding them cut a write but cost
    // calls/s at 16 and 64 in flight in the bench).
    res.flushHeaders();
    let result: ReadableStreamReadResult<Uint8Array> | typeof WAITING = await reader.read();
    let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
    while (!closed.aborted) {
      if (result === WAITING) result = await pending!;
      if (result.done || closed.aborted) break;
      // Corked: this event, those already queued behind it and, when the
      // stream has ended too, the last chunk leave in one write.
      res.cork();
      let room = true;
      do {
        room = res.write(result.value) && room;
        pending = reader.read();
        result = await settledNow(pending);
      } while (result !== WAITING && !result.done && !closed.aborted);
      if (result !== WAITING && result.done) break;
      res.uncork();
      if (!room) {
        await new Promise<void>((resolve) => {
          res.once("drain", resolve);
          res.once("close", resolve);
        });
      }
    }
    res.end();
  } finally {
    closed.removeEventListener("abort", cancel);
  }
}

/**
 * Makes a node:http request listener that calls a fetch-style handler.
 *
 * Only origin-form request targets (`/path?query`) are accepted; anything
 * else (absolute-form, `*`) gets 400 before the handler runs.
 *
 * @param handler Answers each request.
 * @param origin The `http://host:port` the Request URLs are built on.
 * @returns The listener for `http.Server`'s `request` event.
 */
export function nodeRequestListener(
  handler: FetchHandler,
  origin: () => string,
): (req: IncomingMessage, res: ServerResponse) => void {
  return function serveRequest(req, res) {
    const url = req.url ?? "";
    if (!url.startsWith("/")) {
      return badRequest(res, "Bad request: expected a request target starting with /");
    }
    const aborted = new AbortController();
    // Answered before the body was read (413, 401): drain the rest, so the
    // client is not left blocked writing it (the request timeout bounds this).
    res.once("finish", () => {
      if (!req.complete) {
        req.removeAllListeners("data");
        req.resume();
      }
    });
    res.once("close", () => {
      if (!res.writableFinished) aborted.abort();
    });
    const socket = req.socket as { remoteAddress?: string; remotePort?: number };
    const peer: Deno.NetAddr = {
      transport: "tcp",
      hostname: socket.remoteAddress ?? "",
      port: socket.remotePort ?? 0,
    };
    const method = req.method ?? "GET";
    const length = method === "GET" || method === "HEAD" ? undefined : smallBodyLength(req);
    if (length === undefined) return answer(undefined);
    wholeBody(req, length).then((body) => {
      // Short of its length: the client went away or timed out; node:http closes it.
      if (body !== undefined && !aborted.signal.aborted) answer(body);
    });

    function answer(body: Uint8Array | undefined): void {
      let request: Request;
      try {
        request = toRequest(req, origin(), { signal: aborted.signal, body });
      } catch {
        return badRequest(res, "Bad request: the request line or headers cannot be parsed");
      }
      Promise.resolve()
        .then(() => handler(request, peer))
        .then((response) => writeResponse(response, res, aborted.signal))
        .catch((error) => {
          // A client that went away mid-request is not the gateway's failure.
          if (!aborted.signal.aborted) {
            log.error("Answering {method} {path} failed: {error}", {
              method: req.method,
              path: url.split("?")[0],
              error: error instanceof Error ? error.message : String(error),
            });
          }
          if (!res.headersSent && !aborted.signal.aborted) {
            res.writeHead(500, { "Content-Type": "application/json", Connection: "close" });
            res.end(
              JSON.stringify({ error: "internal", error_description: "The gateway failed" }),
            );
          } else {
            res.destroy();
          }
        });
    }
  };
}
