/**
 * One gateway's connection to the shared PostgreSQL: a small pool, a health
 * probe, query deadlines, and the `LISTEN` channel every gateway hears
 * changes on. Every query goes through {@linkcode PgClient.run}, which turns
 * an unreachable or stalled database into a {@linkcode StateUnavailableError}
 * so callers fail closed with one clear sentence.
 *
 * Private to `src/state`.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import postgres, { type Sql } from "postgres";
import { absorbLateSocketErrors } from "./_late_socket_errors.ts";
import { StateUnavailableError } from "./state_error.ts";
import type { PostgresTarget } from "./state_url.ts";

const log = getLogger(["tailops", "state"]);

/** The channel gateways notify each other on. */
export const CHANNEL = "tailops_state";

/** A change one gateway made that the others act on at once. */
export type StateNotice =
  | { readonly kind: "revoked"; readonly jti: string }
  | { readonly kind: "approval"; readonly id: string };

/** Whether shared state can be used now. */
export type StateHealth = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Options of {@linkcode PgClient.connect}. */
export interface PgClientOptions {
  /** How often the health probe runs (ms); default 500. */
  readonly probeMs?: number;
  /** Longest a query may take before the database counts as unreachable (ms); default 5000. */
  readonly queryTimeoutMs?: number;
}

/** SQLSTATE classes that mean the server, not the query, is the problem. */
const UNAVAILABLE_SQLSTATE = /^(08|53|57)/;

/** Connections in the pool. */
const POOL_SIZE = 6;

/**
 * Driver errors that mean the server is not there now (refused, no socket,
 * connect timeout, full): the statement was not sent, and sending it again
 * at once cannot help. The health probe notices the return.
 */
const SERVER_ABSENT = new Set(["ECONNREFUSED", "ENOENT", "CONNECT_TIMEOUT", "53300"]);

/**
 * Failures before the statement reached a server that is there: a write to a
 * socket the server had already closed, or a connection refused at startup
 * (57P03, "the database system is starting up" or "shutting down": seen on a
 * new connection for a moment after a restart).
 */
const NOT_SENT = new Set(["EPIPE", "57P03"]);

/**
 * Attempts per statement when connections die under it. A server restart,
 * a fast shutdown or `pg_terminate_backend` leaves every pooled connection
 * dead at once, and the driver learns of each only as it is used or its
 * socket closes: one attempt per pooled connection, and a fresh one.
 */
const ATTEMPTS = POOL_SIZE + 1;

/** The query deadline passed (a stalled server): never retried. */
class DeadlineError extends Error {
  override name = "DeadlineError";
}

/** Whether a failure is the connection's or the server's rather than the statement's. */
function isUnavailable(error: unknown): boolean {
  const e = error as { name?: string; code?: string };
  if (e?.name === "PostgresError") return UNAVAILABLE_SQLSTATE.test(e.code ?? "");
  return true;
}

/**
 * Whether a statement that failed this way may be sent once more: its
 * connection died (not the server, not the deadline, not the statement),
 * and either the statement is idempotent or it provably never left.
 */
function mayRetry(error: unknown, idempotent: boolean): boolean {
  if (error instanceof DeadlineError || !isUnavailable(error)) return false;
  const code = String((error as { code?: unknown })?.code ?? "");
  if (SERVER_ABSENT.has(code)) return false;
  return idempotent || NOT_SENT.has(code);
}

/** Options of {@linkcode PgClient.run}. */
export interface RunOptions {
  /** A health probe: runs (and may mark the state healthy) while the state is unhealthy. */
  readonly probe?: boolean;
  /**
   * Running the body twice has the effect of running it once (a read, an
   * insert `ON CONFLICT DO NOTHING`, an upsert of the same value), so it is
   * sent again when its connection failed under it, whether or not it
   * reached the server. Otherwise it is sent again only when it provably did
   * not reach the server.
   */
  readonly idempotent?: boolean;
}

/** A connected pool with health, deadlines and notifications. */
export class PgClient {
  /** The pool (use through {@linkcode run}). */
  readonly sql: Sql;
  /** Where it connects, without the password. */
  readonly display: string;
  readonly #queryTimeoutMs: number;
  readonly #listeners = new Set<(notice: StateNotice | "resync") => void>();
  #health: StateHealth = { ok: false, reason: "not connected yet" };
  #probe: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  private constructor(sql: Sql, display: string, queryTimeoutMs: number) {
    this.sql = sql;
    this.display = display;
    this.#queryTimeoutMs = queryTimeoutMs;
  }

  /**
   * Connects, checks the server answers, subscribes to the channel and starts the probe.
   *
   * Needs `net` permission for the host (or the unix socket).
   *
   * @param target Where to connect.
   * @param options Probe interval and query deadline.
   * @returns The client.
   * @throws {Error} When the server cannot be reached (one sentence, no password).
   */
  static async connect(target: PostgresTarget, options: PgClientOptions = {}): Promise<PgClient> {
    absorbLateSocketErrors();
    const sql = postgres({
      host: target.host,
      port: target.port,
      user: target.user,
      database: target.database,
      password: target.password?.reveal(),
      ssl: target.ssl === "disable" ? false : target.ssl === "require" ? "require" : "verify-full",
      max: POOL_SIZE,
      connect_timeout: 5,
      idle_timeout: 60,
      // The driver waits before reopening a connection that closed on an
      // error, longer after each failure (up to 20 s by default, counted
      // across the pool): after a few restarts the first statement would
      // wait past its deadline. The health probe already paces the retries.
      backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
      onnotice: () => {},
      connection: { application_name: "tailops" },
    });
    const client = new PgClient(sql, target.display, options.queryTimeoutMs ?? 5_000);
    try {
      await client.run("reach the database", (q) => q`SELECT 1`, {
        probe: true,
        idempotent: true,
      });
    } catch (error) {
      await sql.end({ timeout: 1 }).catch(() => {});
      throw new Error(
        `Cannot open the shared state at ${target.display}: ${
          describe((error as Error).cause ?? error)
        }`,
      );
    }
    await sql.listen(CHANNEL, (payload) => client.#notice(payload), () => {
      // (Re)subscribed: notifications may have been missed meanwhile.
      for (const listener of client.#listeners) listener("resync");
    });
    client.#health = { ok: true };
    const probeMs = options.probeMs ?? 500;
    const probe = setInterval(() => void client.#check(), probeMs);
    Deno.unrefTimer(probe);
    client.#probe = probe;
    return client;
  }

  /** Whether shared state can be used now. */
  get health(): StateHealth {
    return this.#health;
  }

  /**
   * Hears every notice from any gateway, and `"resync"` when notices may have
   * been missed (after a reconnect): then reload from the tables.
   *
   * @param listener Called for each notice.
   */
  onNotice(listener: (notice: StateNotice | "resync") => void): void {
    this.#listeners.add(listener);
  }

  #notice(payload: string): void {
    let notice: StateNotice;
    try {
      notice = JSON.parse(payload);
    } catch {
      return;
    }
    for (const listener of this.#listeners) listener(notice);
  }

  async #check(): Promise<void> {
    const was = this.#health.ok;
    try {
      await this.run("probe the database", (q) => q`SELECT 1`, {
        probe: true,
        idempotent: true,
      });
      if (!was) {
        this.#health = { ok: true };
        log.info("Shared state at {display} is reachable again", { display: this.display });
        for (const listener of this.#listeners) listener("resync");
      }
    } catch {
      // run() marked the state unavailable.
    }
  }

  /**
   * Runs queries with a deadline. A connection that dies under the body is
   * replaced and the body sent again (up to {@linkcode ATTEMPTS} times, within
   * the deadline) when that is safe: always for an idempotent body, else
   * only when the statement never reached the server; never when the server
   * itself is gone. A connection failure that outlasts the retries, a
   * stalled server or a server that is gone marks shared state unavailable; a statement the server refuses leaves
   * the state healthy. Either way the caller gets a
   * {@linkcode StateUnavailableError}: one sentence, never the driver's text.
   *
   * @param what What is being done, for the error sentence ("record the revocation").
   * @param body The queries.
   * @param options Whether this is a probe and whether the body is idempotent.
   * @returns What the body returns.
   * @throws {StateUnavailableError} When the database cannot be used now.
   */
  async run<T>(what: string, body: (sql: Sql) => Promise<T>, options: RunOptions = {}) {
    if (this.#closed) throw new StateUnavailableError(`Cannot ${what}: the gateway is stopping`);
    if (!this.#health.ok && !options.probe) {
      // Fail fast while the probe says the database is gone; it notices the return.
      throw new StateUnavailableError(
        `Cannot ${what}: the shared state database is unreachable (${this.#health.reason}); refused to stay safe`,
      );
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new DeadlineError(`no answer within ${this.#queryTimeoutMs} ms`)),
        this.#queryTimeoutMs,
      );
    });
    try {
      for (let attempt = 1;; attempt++) {
        try {
          return await Promise.race([body(this.sql), deadline]);
        } catch (error) {
          if (attempt < ATTEMPTS && mayRetry(error, options.idempotent ?? false)) {
            log.debug(
              "Shared state: {what} failed on a dead connection ({reason}); sending again",
              {
                what,
                reason: describe(error),
              },
            );
            continue;
          }
          throw this.#failed(what, error, options);
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Turns a final failure into the caller's error, marking the state unhealthy when it is. */
  #failed(what: string, error: unknown, options: RunOptions): StateUnavailableError {
    const reason = describe(error);
    if (!isUnavailable(error)) {
      // The server is there and refused this statement: a fault of ours or of
      // the schema, logged in full here; the caller gets one sentence.
      log.error("Shared state refused to {what}: {error}", {
        what,
        error: (error as Error)?.message ?? String(error),
      });
      return new StateUnavailableError(
        `Cannot ${what}: the shared state database refused the statement (${reason}); refused to stay safe`,
        { cause: error },
      );
    }
    if (this.#health.ok || options.probe) {
      if (this.#health.ok) {
        log.error("Shared state at {display} is unreachable: {reason} ({detail})", {
          display: this.display,
          reason,
          // The driver's own words, for the operator (never sent to a client).
          detail: String((error as Error)?.message ?? error).split("\n")[0].slice(0, 300),
        });
      }
      this.#health = { ok: false, reason };
    }
    return new StateUnavailableError(
      `Cannot ${what}: the shared state database is unreachable (${reason}); refused to stay safe`,
      { cause: error },
    );
  }

  /**
   * Stops the probe and closes the pool.
   */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#probe);
    await this.sql.end({ timeout: 2 }).catch(() => {});
  }
}

/** One short phrase for a driver error: its code, never a password or a stack. */
function describe(error: unknown): string {
  const e = error as { code?: string; message?: string };
  if (typeof e?.code === "string" && /^[A-Z_0-9]+$/.test(e.code)) {
    const known: Record<string, string> = {
      ECONNREFUSED: "connection refused",
      ENOENT: "no socket at that path",
      CONNECT_TIMEOUT: "connection timed out",
      CONNECTION_CLOSED: "connection closed",
      CONNECTION_ENDED: "connection ended",
      CONNECTION_DESTROYED: "connection closed",
      "57P01": "the server is shutting down",
      "57P02": "the server crashed",
      ECONNRESET: "connection reset",
      EPIPE: "connection closed",
      "57P03": "the server is starting up",
      "28P01": "password authentication failed",
      "28000": "authentication refused",
      "3D000": "the database does not exist",
      "53300": "too many connections",
    };
    return known[e.code] ?? `error ${e.code}`;
  }
  return (e?.message ?? "unknown error").split("\n")[0].slice(0, 200);
}
