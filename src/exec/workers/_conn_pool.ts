/**
 * A small idle-connection pool for the HTTP and Docker workers' keep-alive:
 * per key (one target's origin or engine endpoint) at most
 * {@linkcode MAX_IDLE_PER_KEY} idle connections, each closed after its idle
 * timeout. Callers decide what may be pooled; the pool only keeps, hands out
 * and closes. No Deno permissions needed.
 *
 * @module
 */

/** Idle connections kept per key; more are closed. */
export const MAX_IDLE_PER_KEY = 8;
/** The longest a connection stays idle in the pool. */
export const IDLE_TIMEOUT_MS = 30_000;

/**
 * A reused connection failed before a single response byte arrived (the
 * server closed it while idle): an idempotent request may be sent again.
 */
export class NoReplyError extends Error {
  /** @param cause What the socket threw. */
  constructor(override readonly cause: unknown) {
    super("The reused connection closed before any response arrived");
    this.name = "NoReplyError";
  }
}

/** Anything with a `close()`: a `Deno.Conn` in the workers. */
export interface Closable {
  close(): void;
}

interface Idle<C> {
  readonly conn: C;
  readonly timer: ReturnType<typeof setTimeout>;
}

function closeQuietly(conn: Closable): void {
  try {
    conn.close();
  } catch {
    // Already closed (by the peer or an abort).
  }
}

/**
 * The idle time a response allows: {@linkcode IDLE_TIMEOUT_MS}, or less when
 * the server sent `Keep-Alive: timeout=N`.
 *
 * @param header The `Keep-Alive` response header, if any.
 * @returns Milliseconds; `0` means do not pool.
 * @example
 * ```ts
 * idleTimeoutMs("timeout=5, max=100"); // 5000
 * ```
 */
export function idleTimeoutMs(header: string | undefined): number {
  const m = /(?:^|[,;\s])timeout\s*=\s*"?(\d{1,6})/i.exec(header ?? "");
  return m ? Math.min(IDLE_TIMEOUT_MS, Number(m[1]) * 1000) : IDLE_TIMEOUT_MS;
}

/** Idle connections by key. */
export class ConnPool<C extends Closable> {
  readonly #idle = new Map<string, Idle<C>[]>();

  /**
   * Takes the most recently returned idle connection for a key.
   *
   * @param key Target and origin (or engine endpoint).
   * @returns A connection the caller now owns, or `undefined`.
   */
  take(key: string): C | undefined {
    const list = this.#idle.get(key);
    const entry = list?.pop();
    if (list?.length === 0) this.#idle.delete(key);
    if (!entry) return undefined;
    clearTimeout(entry.timer);
    return entry.conn;
  }

  /**
   * Keeps a connection idle for reuse, or closes it when the key already has
   * {@linkcode MAX_IDLE_PER_KEY} or `idleMs` is not positive.
   *
   * @param key Target and origin (or engine endpoint).
   * @param conn A connection whose last response was read completely.
   * @param idleMs How long it may stay idle.
   */
  give(key: string, conn: C, idleMs: number = IDLE_TIMEOUT_MS): void {
    const list = this.#idle.get(key) ?? [];
    if (idleMs <= 0 || list.length >= MAX_IDLE_PER_KEY) return closeQuietly(conn);
    const timer = setTimeout(() => {
      const at = list.findIndex((entry) => entry.conn === conn);
      if (at >= 0) list.splice(at, 1);
      if (list.length === 0 && this.#idle.get(key) === list) this.#idle.delete(key);
      closeQuietly(conn);
    }, Math.min(idleMs, IDLE_TIMEOUT_MS));
    // An idle connection never keeps the worker (or a test) alive by itself.
    Deno.unrefTimer(timer);
    list.push({ conn, timer });
    this.#idle.set(key, list);
  }

  /**
   * Closes the idle connections of one key: a request to that server ran
   * out of time, so the others may be stuck the same way, and the next
   * request should not wait on one of them.
   *
   * @param key Target and origin (or engine endpoint).
   */
  closeKey(key: string): void {
    const list = this.#idle.get(key);
    if (!list) return;
    this.#idle.delete(key);
    for (const { conn, timer } of list) {
      clearTimeout(timer);
      closeQuietly(conn);
    }
  }

  /** How many idle connections a key holds. @param key The key. @returns The count. */
  size(key: string): number {
    return this.#idle.get(key)?.length ?? 0;
  }

  /** Closes every idle connection (worker shutdown or reconfiguration). */
  closeAll(): void {
    for (const list of this.#idle.values()) {
      for (const { conn, timer } of list) {
        clearTimeout(timer);
        closeQuietly(conn);
      }
    }
    this.#idle.clear();
  }
}
