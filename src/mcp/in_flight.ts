/**
 * The requests the gateway is answering, across every session and transport,
 * so that a shutdown can stop taking new calls, wait a bounded time for the
 * ones in flight, and cut the rest with a clear error before the process
 * exits.
 *
 * @module
 */

/** Requests in flight and the shutdown state. */
export class InFlight {
  #count = 0;
  #stopping = false;
  readonly #cut = new AbortController();
  #idle: (() => void)[] = [];

  /** Requests received and not yet answered. */
  get count(): number {
    return this.#count;
  }

  /** True once {@linkcode stop} was called: new tool calls are refused. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** Aborted when the grace period ends: calls still running stop. */
  get signal(): AbortSignal {
    return this.#cut.signal;
  }

  /**
   * Counts one request until the returned function is called (once its
   * response has been written).
   *
   * @returns Call it when the request has been answered; later calls do nothing.
   */
  begin(): () => void {
    this.#count++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#count--;
      if (this.#count === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    };
  }

  /** Refuses new tool calls from now on. */
  stop(): void {
    this.#stopping = true;
  }

  /** Aborts {@linkcode signal}: calls still running end as cancelled. */
  cut(): void {
    this.#cut.abort(new Error("The gateway is shutting down"));
  }

  /**
   * Waits until no request is in flight, or `ms` has passed.
   *
   * @param ms Longest wait.
   * @returns True when nothing is in flight any more.
   */
  settled(ms: number): Promise<boolean> {
    if (this.#count === 0) return Promise.resolve(true);
    return idleWithin((resolve) => this.#idle.push(resolve), ms);
  }
}

/**
 * Waits until something becomes idle, or `ms` passes.
 *
 * @param onIdle Registers the function to call once idle.
 * @param ms Longest wait.
 * @returns True when it became idle in time.
 */
export async function idleWithin(
  onIdle: (resolve: () => void) => void,
  ms: number,
): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const idle = new Promise<boolean>((resolve) => onIdle(() => resolve(true)));
  const late = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  try {
    return await Promise.race([idle, late]);
  } finally {
    clearTimeout(timer);
  }
}
