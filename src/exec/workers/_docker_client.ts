/**
 * One Docker Engine: how to connect (unix socket or TCP with mutual TLS),
 * which API version to speak, and how connection failures read to a client.
 *
 * @module
 */
import type { ExecFailure } from "../plan.ts";
import { type ConnPool, NoReplyError } from "./_conn_pool.ts";
import { openResponse, type StreamedResponse, type WireRequest } from "./_http_wire.ts";

const encoder = new TextEncoder();

/** Where one target's engine listens, with TLS material revealed. */
export type DockerEndpoint =
  | { readonly transport: "unix"; readonly path: string }
  | {
    readonly transport: "tls";
    readonly hostname: string;
    readonly port: number;
    readonly caCert: string;
    readonly cert: string;
    readonly key: string;
  };

/** The docker worker's `configure` message body. */
export interface DockerWorkerConfig {
  /** Target id → endpoint. */
  readonly targets: Readonly<Record<string, DockerEndpoint>>;
}

/** The oldest Engine API we speak (Docker 19.03). */
export const MIN_API_VERSION = "1.40";
/** The newest Engine API we speak; newer engines are addressed with this version. */
export const MAX_API_VERSION = "1.47";

/** A failure with a stable code, thrown inside the worker and posted as a result. */
export class DockerFailure extends Error {
  /** Stable code. */
  readonly code: ExecFailure["code"];

  /**
   * @param code Stable code.
   * @param message A sentence safe to show a client.
   */
  constructor(code: ExecFailure["code"], message: string) {
    super(message);
    this.name = "DockerFailure";
    this.code = code;
  }
}

/**
 * Compares two `major.minor` versions.
 *
 * @param a A version such as `"1.41"`.
 * @param b Another version.
 * @returns Negative, zero or positive as `a` is older, equal or newer.
 */
export function compareApiVersions(a: string, b: string): number {
  const [am, an] = a.split(".").map(Number);
  const [bm, bn] = b.split(".").map(Number);
  return am !== bm ? am - bm : an - bn;
}

/**
 * The version to speak with an engine: the lower of its version and ours.
 *
 * @param engine The engine's `ApiVersion`.
 * @returns The negotiated version.
 * @throws {DockerFailure} When the engine is older than {@linkcode MIN_API_VERSION}.
 */
export function negotiateApiVersion(engine: string): string {
  if (!/^\d{1,3}\.\d{1,3}$/.test(engine)) {
    throw new DockerFailure("bad_response", "The engine reported an API version we cannot read");
  }
  if (compareApiVersions(engine, MIN_API_VERSION) < 0) {
    throw new DockerFailure(
      "bad_response",
      `The engine speaks Docker API ${engine}: expected ${MIN_API_VERSION} or newer`,
    );
  }
  return compareApiVersions(engine, MAX_API_VERSION) > 0 ? MAX_API_VERSION : engine;
}

/** An open response and what to do with its connection once the body is read. */
export interface OpenResponse {
  readonly response: StreamedResponse;
  /** Pools the connection when the response allows it, else closes it. Call once, always. */
  release(): void;
}

/**
 * A client for one target's engine. With a pool, GET requests reuse idle
 * connections to the same endpoint; a GET whose reused connection fails
 * before any response byte (the engine closed it while idle) is sent once
 * more on a new connection. Every other method (they all mutate) goes out on
 * a new connection, so it is never sent on a stale one and never twice.
 */
export class DockerClient {
  readonly #target: string;
  readonly #endpoint: DockerEndpoint;
  readonly #pool: ConnPool<Deno.Conn> | undefined;
  readonly #key: string;
  #version: string | undefined;

  /**
   * @param target Target id, for messages.
   * @param endpoint Where the engine listens.
   * @param pool Idle connections to reuse (the worker's); without one, one connection per request.
   */
  constructor(target: string, endpoint: DockerEndpoint, pool?: ConnPool<Deno.Conn>) {
    this.#target = target;
    this.#endpoint = endpoint;
    this.#pool = pool;
    this.#key = `${target} ${this.#where()}`;
  }

  #where(): string {
    return this.#endpoint.transport === "unix"
      ? `socket ${this.#endpoint.path}`
      : `${this.#endpoint.hostname}:${this.#endpoint.port}`;
  }

  /**
   * The negotiated API version, asking the engine (`GET /version`) the first
   * time and again after a connection failure (the engine may have changed).
   *
   * @param signal Aborts the call.
   * @returns A version such as `"1.41"`.
   * @throws {DockerFailure} When the engine cannot be reached or answers oddly.
   */
  async apiVersion(signal: AbortSignal): Promise<string> {
    if (this.#version) return this.#version;
    const { status, text } = await this.#text("GET", "/version", signal);
    let engine: unknown;
    try {
      engine = (JSON.parse(text) as { ApiVersion?: unknown }).ApiVersion;
    } catch {
      engine = undefined;
    }
    if (status !== 200 || typeof engine !== "string") {
      throw new DockerFailure(
        "bad_response",
        `The engine of target "${this.#target}" did not report its API version`,
      );
    }
    this.#version = negotiateApiVersion(engine);
    return this.#version;
  }

  /**
   * Sends one request on a pooled connection (GET only) or a new one. The
   * connection closes when `signal` aborts; the caller calls `release` after
   * reading the body.
   *
   * @param method HTTP method.
   * @param target Path with query, including the `/vX.Y` prefix when wanted.
   * @param options JSON `body` and the abort `signal`.
   * @returns The response and its `release`.
   * @throws {DockerFailure} `unreachable`, `untrusted`, `forbidden` or `cancelled`/`timeout`.
   */
  async open(
    method: string,
    target: string,
    options: { body?: string; signal: AbortSignal },
  ): Promise<OpenResponse> {
    const { signal } = options;
    try {
      return await this.#open(method, target, options);
    } catch (error) {
      // Out of time: the other idle connections to this engine may be stuck too.
      if (signal.aborted) this.#pool?.closeKey(this.#key);
      throw error;
    }
  }

  async #open(
    method: string,
    target: string,
    options: { body?: string; signal: AbortSignal },
  ): Promise<OpenResponse> {
    const { signal } = options;
    const body = options.body === undefined ? undefined : encoder.encode(options.body);
    const request: WireRequest = {
      method,
      target,
      host: "docker",
      headers: body
        ? [["User-Agent", "tailops"], ["Content-Type", "application/json"]]
        : [["User-Agent", "tailops"]],
      body,
    };
    const pooled = method === "GET" ? this.#pool?.take(this.#key) : undefined;
    if (pooled) {
      try {
        return await this.#send(pooled, request, signal, true);
      } catch (error) {
        if (!(error instanceof NoReplyError)) throw error;
        // The engine closed the idle connection before reading the request: once more, on a new one.
      }
    }
    let conn: Deno.Conn;
    try {
      signal.throwIfAborted();
      conn = await this.#connect();
    } catch (error) {
      throw this.failure(error, signal);
    }
    return await this.#send(conn, request, signal, false);
  }

  async #send(
    conn: Deno.Conn,
    request: WireRequest,
    signal: AbortSignal,
    reused: boolean,
  ): Promise<OpenResponse> {
    const onAbort = () => closeQuietly(conn);
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      signal.throwIfAborted();
      const keepAlive = this.#pool !== undefined;
      const response = await openResponse(conn, request, { keepAlive, reused });
      const release = () => {
        signal.removeEventListener("abort", onAbort);
        if (this.#pool && response.reusable() && !signal.aborted) {
          this.#pool.give(this.#key, conn, response.reuseMs());
        } else closeQuietly(conn);
      };
      return { response, release };
    } catch (error) {
      signal.removeEventListener("abort", onAbort);
      closeQuietly(conn);
      if (error instanceof NoReplyError && !signal.aborted) throw error;
      throw this.failure(error, signal);
    }
  }

  /**
   * Translates an error from connecting or reading into a client-safe failure.
   * Forgets the negotiated version so the next call asks again.
   *
   * @param error What was thrown.
   * @param signal The call's signal: an abort reads as `timeout` or `cancelled`.
   * @returns The failure.
   */
  failure(error: unknown, signal: AbortSignal): DockerFailure {
    if (error instanceof DockerFailure) return error;
    if (signal.aborted) {
      const reason = signal.reason;
      return reason instanceof DockerFailure
        ? reason
        : new DockerFailure("cancelled", "The call was cancelled");
    }
    this.#version = undefined;
    const engine = `the Docker engine of target "${this.#target}" (${this.#where()})`;
    const text = String((error as Error)?.message ?? error);
    if (error instanceof Deno.errors.NotCapable) {
      return new DockerFailure("forbidden", `The executor is not allowed to reach ${engine}`);
    }
    if (error instanceof Deno.errors.NotFound) {
      return new DockerFailure("unreachable", `Cannot reach ${engine}: the socket does not exist`);
    }
    if (error instanceof Deno.errors.ConnectionRefused) {
      return new DockerFailure("unreachable", `Cannot reach ${engine}: the connection was refused`);
    }
    if (error instanceof Deno.errors.PermissionDenied) {
      return new DockerFailure(
        "unreachable",
        `Cannot reach ${engine}: permission denied on the socket`,
      );
    }
    if (/certificate|UnknownIssuer|NotValidForName|BadSignature|handshake|tls/i.test(text)) {
      return new DockerFailure(
        "untrusted",
        `Cannot verify ${engine}: the TLS handshake failed (certificate not trusted or not accepted)`,
      );
    }
    return new DockerFailure(
      "unreachable",
      `The connection to ${engine} failed or was lost during the call`,
    );
  }

  async #text(
    method: string,
    path: string,
    signal: AbortSignal,
  ): Promise<{ status: number; text: string }> {
    const { response, release } = await this.open(method, path, { signal });
    try {
      let text = "";
      const decoder = new TextDecoder();
      for await (const chunk of response.body) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 65536) break;
      }
      return { status: response.status, text };
    } catch (error) {
      throw this.failure(error, signal);
    } finally {
      release();
    }
  }

  #connect(): Promise<Deno.Conn> {
    const endpoint = this.#endpoint;
    if (endpoint.transport === "unix") {
      return Deno.connect({ transport: "unix", path: endpoint.path });
    }
    return Deno.connectTls({
      hostname: endpoint.hostname,
      port: endpoint.port,
      caCerts: [endpoint.caCert],
      cert: endpoint.cert,
      key: endpoint.key,
    });
  }
}

/**
 * Closes a connection, ignoring "already closed".
 *
 * @param conn The connection.
 */
export function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Already closed (abort or peer).
  }
}
