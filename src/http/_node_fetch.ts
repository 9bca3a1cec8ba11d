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

function toRequest(req: IncomingMessage, origin: string, signal: AbortSignal): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) headers.append(raw[i], raw[i + 1]);
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  return new Request(origin + req.url, {
    method,
    headers,
    signal,
    ...(hasBody ? { body: requestBody(req), duplex: "half" } : {}),
  } as RequestInit);
}

/**
 * How long an event stream's headers wait for its first event, so that a
 * call answered within this time leaves in one write (headers, event, end).
 */
const HOLD_HEADERS_MS = 20;

const WAITING = Symbol("waiting");
const NOW = Promise.resolve(WAITING);

/**
 * The read's result if it is already settled (`ms` 0) or settles within
 * `ms`, else {@linkcode WAITING} (the read stays pending: await it later).
 * A read is settled at once when the stream already holds a chunk or has
 * closed, as the SDK's stream has right after it enqueues an answer.
 */
function settledWithin<T>(read: Promise<T>, ms: number): Promise<T | typeof WAITING> {
  // Both settled: `race` takes the first in order, so a settled read wins.
  if (ms === 0) return Promise.race([read, NOW]);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<typeof WAITING>((resolve) => {
    timer = setTimeout(() => resolve(WAITING), ms);
  });
  return Promise.race([read, deadline]).finally(() => clearTimeout(timer));
}

async function writeResponse(
  response: Response,
  res: ServerResponse,
  closed: AbortSignal,
): Promise<void> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") headers[name] = value;
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers["set-cookie"] = cookies;
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
    // Stored, not sent: the headers leave with the first event when it comes
    // soon (a call's answer), at the deadline otherwise (a quiet stream).
    res.writeHead(response.status, response.statusText || undefined, headers);
    let pending = reader.read();
    let result = await settledWithin(pending, HOLD_HEADERS_MS);
    if (result === WAITING) res.flushHeaders();
    while (!closed.aborted) {
      if (result === WAITING) result = await pending;
      if (result.done || closed.aborted) break;
      // Corked: this event, those already queued behind it and, when the
      // stream has ended too, the last chunk leave in one write.
      res.cork();
      let room = true;
      do {
        room = res.write(result.value) && room;
        pending = reader.read();
        result = await settledWithin(pending, 0);
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
    let request: Request;
    try {
      request = toRequest(req, origin(), aborted.signal);
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
          res.end(JSON.stringify({ error: "internal", error_description: "The gateway failed" }));
        } else {
          res.destroy();
        }
      });
  };
}
