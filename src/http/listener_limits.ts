/**
 * The HTTP listener's connection limits and their defaults, apart from the
 * listener itself so that parsing `serve` flags does not load `node:http`
 * (~40 ms of every stdio start).
 *
 * @module
 */

/** Connection limits of the HTTP listener. */
export interface ListenerLimits {
  /** Connections open at once, in total. */
  readonly maxConnections: number;
  /** Connections open at once from one peer address. */
  readonly maxConnectionsPerPeer: number;
  /** Time for a client to send a request's headers, in ms. */
  readonly headersTimeoutMs: number;
  /** Time for a client to send a whole request (headers and body), in ms. */
  readonly requestTimeoutMs: number;
  /** Idle time of a kept-alive connection between requests, in ms. */
  readonly keepAliveTimeoutMs: number;
  /** Descriptors kept free for everything else (audit log, workers, targets). */
  readonly fdReserve: number;
}

/** Safe defaults; `tailops serve --help` lists the flags that change them. */
export const DEFAULT_LISTENER_LIMITS: ListenerLimits = Object.freeze({
  maxConnections: 1024,
  maxConnectionsPerPeer: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 30_000,
  fdReserve: 256,
});
