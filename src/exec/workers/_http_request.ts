/**
 * Runs one HTTP plan on one target: allowlists, credential injection, the
 * address guard, TLS, the redirect policy, the deadline and the response cap.
 *
 * What the address guard guarantees:
 *
 * - Connections go only to the target's configured host and port. The Deno
 *   sandbox (`net` = the HTTP targets' host:port list) blocks every other
 *   host:port, including by another name for the same address.
 * - The address a socket actually reached (`remoteAddr`, after the system
 *   resolver and any Happy Eyeballs fallback) is checked before a single byte
 *   is written: no request line, credential or TLS ClientHello goes to an
 *   address outside the allowance. Because the check is on the connected
 *   socket, not on a separate lookup, a DNS answer that changes between
 *   "check" and "connect" (rebinding) cannot slip past it.
 * - The allowance: an IP-literal host allows that address plus
 *   `allow_addresses`; a named host with `allow_addresses` allows only those
 *   ranges; a named host without allows only public unicast addresses (no
 *   loopback, private, link-local/metadata, CGNAT/Tailscale, ULA, …).
 * - Redirects are followed only with `redirects: same_origin`, only to the
 *   same scheme, host and port, under the base path, to an allowed method and
 *   path, at most 5 times; a hop may reuse a pooled connection to that origin.
 *
 * Keep-alive (when the worker passes a pool): every new connection passes the
 * address guard before its first byte; a pooled one already did, for the same
 * target and origin. A connection goes back to the pool only after a complete,
 * framed, uncapped response that neither side marked `close`, and never after
 * a cancel or timeout. Only idempotent requests (GET, HEAD, PUT, DELETE) take a
 * pooled connection; when one fails before any response byte (the server
 * closed it while idle) the request is sent once more on a new connection.
 * Other methods (POST, PATCH) always go out on a new connection, so they are
 * never sent on a stale one and never sent twice.
 *
 * What it does not prevent: a TCP handshake (SYN, then an immediate close) to
 * a refused address on the configured port, since the address is known only
 * once the socket connects.
 *
 * @module
 */
import type { HttpPlan, HttpResult } from "../plan.ts";
import type { ResultText } from "../protocol.ts";
import { parseIp } from "./_http_address.ts";
import { readCertificateExpiry } from "./_http_cert.ts";
import { type CompiledTarget, REQUEST_HEADER_ALLOWLIST } from "./_http_config.ts";
import { pathProblem, requestProblem } from "./_http_paths.ts";
import { startPinnedTls } from "./_http_pin.ts";
import { BadResponseError, exchange, type WireRequest, type WireResponse } from "./_http_wire.ts";
import { type ConnPool, NoReplyError } from "./_conn_pool.ts";
import { buildResult, HttpFailure, toFailure } from "./_http_result.ts";

const MAX_REDIRECTS = 5;
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE"]);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REQUEST_BODY = 8 * 1024 * 1024;
const HEALTH_BODY_CAP = 4096;
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\0-\x08\x0a-\x1f\x7f]/;

function check(target: CompiledTarget, method: string, path: string): void {
  const problem = requestProblem({ method, path }, {
    methods: target.methods,
    paths: target.paths,
  });
  if (problem) throw new HttpFailure("forbidden", problem);
}

function buildHeaders(target: CompiledTarget, plan: HttpPlan): Map<string, string> {
  const headers = new Map(Object.entries(target.headers));
  for (const [raw, value] of Object.entries(plan.headers ?? {})) {
    const name = raw.toLowerCase();
    if (!REQUEST_HEADER_ALLOWLIST.includes(name) || CONTROL.test(value) || value.length > 4096) {
      throw new HttpFailure(
        "forbidden",
        `Header ${JSON.stringify(raw)} is not allowed: expected one of ${
          REQUEST_HEADER_ALLOWLIST.join(", ")
        } with a printable value`,
      );
    }
    headers.set(name, value);
  }
  if (plan.body !== undefined && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  if (!headers.has("user-agent")) headers.set("user-agent", "tailops-gateway");
  headers.set("accept-encoding", "identity");
  // The credential goes last, so no default or caller header can replace it.
  if (target.auth) headers.set(target.auth.name.toLowerCase(), target.auth.value);
  return headers;
}

function encodeBody(plan: HttpPlan): Uint8Array | undefined {
  if (plan.body === undefined) return undefined;
  if (plan.method === "GET" || plan.method === "HEAD") {
    throw new HttpFailure("forbidden", `A ${plan.method} request cannot carry a body`);
  }
  const bytes = new TextEncoder().encode(JSON.stringify(plan.body));
  if (bytes.length > MAX_REQUEST_BODY) {
    throw new HttpFailure(
      "forbidden",
      `The request body is too large: expected at most ${MAX_REQUEST_BODY} bytes`,
    );
  }
  return bytes;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed.
  }
}

/** Opens a new connection and checks the address it reached before sending a byte. */
async function connect(target: CompiledTarget, deadline: AbortSignal): Promise<Deno.Conn> {
  let conn: Deno.Conn | undefined;
  const close = () => conn && closeQuietly(conn);
  deadline.addEventListener("abort", close, { once: true });
  try {
    deadline.throwIfAborted();
    const tcp = await Deno.connect({
      hostname: target.hostname,
      port: target.port,
      signal: deadline,
    });
    conn = tcp;
    // Without it a request's small writes (TLS records, headers, body) wait for
    // a delayed ACK: ~40 ms per new HTTPS connection measured here.
    tcp.setNoDelay(true);
    const reached = tcp.remoteAddr.hostname;
    const ip = parseIp(reached);
    if (!ip || !target.addressAllowed(ip)) {
      throw new HttpFailure(
        "forbidden",
        `Refused to send to target "${target.id}": its host resolved to ${reached}, which is outside the addresses allowed for it (add a range to allow_addresses to permit it)`,
      );
    }
    if (target.scheme === "https" && target.pinSha256) {
      conn = await startPinnedTls(tcp, {
        id: target.id,
        hostname: target.hostname,
        pinSha256: target.pinSha256,
        signal: deadline,
      });
    } else if (target.scheme === "https") {
      conn = await Deno.startTls(tcp, {
        hostname: target.hostname,
        caCerts: [...target.caCerts],
      });
      deadline.throwIfAborted();
      await (conn as Deno.TlsConn).handshake();
    }
    return conn;
  } catch (error) {
    close();
    throw error;
  } finally {
    deadline.removeEventListener("abort", close);
  }
}

/** Target and origin: a pooled connection serves only the same pair. */
function poolKey(target: CompiledTarget): string {
  return `${target.id} ${target.scheme}://${target.hostname}:${target.port}`;
}

/** Exchanges one request on a connection, then pools or closes it. */
async function exchangeOn(
  conn: Deno.Conn,
  request: WireRequest,
  cap: number,
  deadline: AbortSignal,
  pool: { readonly pool?: ConnPool<Deno.Conn>; readonly key: string; readonly reused: boolean },
): Promise<WireResponse> {
  let reuseMs = 0;
  const close = () => closeQuietly(conn);
  deadline.addEventListener("abort", close, { once: true });
  try {
    deadline.throwIfAborted();
    const response = await exchange(conn, request, cap, {
      keepAlive: pool.pool !== undefined,
      reused: pool.reused,
    });
    reuseMs = response.reuseMs;
    return response;
  } finally {
    deadline.removeEventListener("abort", close);
    if (pool.pool && reuseMs > 0 && !deadline.aborted) pool.pool.give(pool.key, conn, reuseMs);
    else close();
  }
}

/** Sends one request on a pooled connection when allowed, else on a new guarded one. */
async function send(
  target: CompiledTarget,
  request: WireRequest,
  cap: number,
  deadline: AbortSignal,
  pool: ConnPool<Deno.Conn> | undefined,
): Promise<WireResponse> {
  const key = poolKey(target);
  try {
    const pooled = IDEMPOTENT.has(request.method) ? pool?.take(key) : undefined;
    if (pooled) {
      try {
        return await exchangeOn(pooled, request, cap, deadline, { pool, key, reused: true });
      } catch (error) {
        if (!(error instanceof NoReplyError)) throw error;
        if (deadline.aborted) throw error.cause;
        // The server closed the idle connection before reading the request: once more, on a new one.
      }
    }
    const conn = await connect(target, deadline);
    return await exchangeOn(conn, request, cap, deadline, { pool, key, reused: false });
  } catch (error) {
    // Out of time: the other idle connections to this server may be stuck too.
    if (deadline.aborted) pool?.closeKey(key);
    throw error;
  }
}

/** Where a redirect leads, relative to the base path, or a refusal. */
function followable(target: CompiledTarget, current: string, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new BadResponseError("The target sent a redirect with an invalid Location");
  }
  const origin = new URL(current).origin;
  if (next.origin !== origin) {
    throw new HttpFailure(
      "forbidden",
      `Refused to follow a redirect to another origin: expected ${origin}, found ${next.origin}`,
    );
  }
  const base = target.basePath;
  if (base !== "" && next.pathname !== base && !next.pathname.startsWith(`${base}/`)) {
    throw new HttpFailure(
      "forbidden",
      `Refused to follow a redirect outside the base path ${base}`,
    );
  }
  return next;
}

/**
 * Runs an HTTP plan on a target.
 *
 * Needs `net` for the target's host:port.
 *
 * @param target The compiled target.
 * @param plan The plan.
 * @param signal Aborted when the client cancels.
 * @param pool Idle connections to reuse and return (the worker's); without one, every request
 *   uses a new connection with `Connection: close`.
 * @param texts Where a long text body goes as bytes (see `buildResult`); without it, a string.
 * @returns The response, with credentials scrubbed.
 * @throws {HttpFailure} Never anything else: every failure is mapped to a code and a sentence.
 */
export async function runHttpPlan(
  target: CompiledTarget,
  plan: HttpPlan,
  signal: AbortSignal,
  pool?: ConnPool<Deno.Conn>,
  texts?: ResultText[],
): Promise<HttpResult> {
  const started = performance.now();
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(plan.timeoutMs)]);
  const cap = Math.min(
    plan.outputCapBytes,
    target.responseCapBytes,
    plan.health ? HEALTH_BODY_CAP : Infinity,
  );
  try {
    check(target, plan.method, plan.path);
    const headers = buildHeaders(target, plan);
    let method: string = plan.method;
    let body = encodeBody(plan);
    const query = new URLSearchParams(plan.query ?? {}).toString();
    let requestTarget = `${target.basePath}${plan.path}${query ? `?${query}` : ""}`;
    let response: WireResponse;
    for (let hop = 0;; hop++) {
      const request = {
        method,
        target: requestTarget,
        host: target.hostHeader,
        body,
        headers: [...headers],
      };
      response = await send(target, request, cap, deadline, pool);
      const location = response.headers.get("location");
      if (!REDIRECT_STATUSES.has(response.status) || !location || target.redirects === "none") {
        break;
      }
      if (hop === MAX_REDIRECTS) {
        throw new HttpFailure(
          "bad_response",
          `The target redirected more than ${MAX_REDIRECTS} times`,
        );
      }
      const next = followable(
        target,
        `${target.scheme}://${target.hostHeader}${requestTarget}`,
        location,
      );
      if (response.status === 303 || (response.status < 303 && method === "POST")) {
        method = method === "HEAD" ? "HEAD" : "GET";
        body = undefined;
        headers.delete("content-type");
      }
      const path = next.pathname.slice(target.basePath.length) || "/";
      const problem = pathProblem(path);
      if (problem) throw new HttpFailure("forbidden", `Refused to follow a redirect: ${problem}`);
      check(target, method, path);
      requestTarget = `${next.pathname}${next.search}`;
    }
    const latencyMs = Math.round(performance.now() - started);
    const result = buildResult(target, method, response, latencyMs, texts);
    if (!plan.health) return result;
    if (target.scheme !== "https") {
      return {
        ...result,
        certificateExpires: null,
        certificateNote: "The target does not use TLS",
      };
    }
    const cert = await readCertificateExpiry({ ...target, signal: deadline });
    return { ...result, certificateExpires: cert.expires, certificateNote: cert.note };
  } catch (error) {
    throw toFailure(error, { target, signal, deadline, timeoutMs: plan.timeoutMs });
  }
}
