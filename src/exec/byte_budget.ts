/**
 * One budget of bytes shared by every call in the gateway, so that many
 * large outputs at once cannot take the process to its heap limit. A call
 * reserves its worst case (its output cap per stream) before it runs and
 * shrinks the reservation to what it actually got once the result is back;
 * it holds that until its result has been handed to the transport. When the
 * budget is spent, new reservations wait in arrival order, for a bounded
 * time, then fail with {@linkcode BudgetBusyError}. A call whose bytes fit
 * goes ahead of larger ones that wait.
 *
 * @module
 */

/** The budget was spent for longer than a call may wait. */
export class BudgetBusyError extends Error {
  /**
   * @param message A sentence for the client.
   */
  constructor(message: string) {
    super(message);
    this.name = "BudgetBusyError";
  }
}

/** Bytes held; shrink it once the real size is known, release it exactly once. */
export interface Reservation {
  /** Bytes held now. */
  readonly bytes: number;
  /**
   * Lowers the bytes held (never raises them).
   *
   * @param bytes The new amount.
   */
  shrink(bytes: number): void;
  /** Gives every held byte back. Later calls do nothing. */
  release(): void;
}

interface Waiter {
  readonly bytes: number;
  readonly grant: () => void;
}

/** A weighted semaphore over bytes with bounded, abortable waits. */
export class ByteBudget {
  readonly #total: number;
  #free: number;
  readonly #waiters: Waiter[] = [];

  /**
   * @param total Bytes the budget holds (at least 1).
   * @throws {RangeError} When total is below 1.
   */
  constructor(total: number) {
    if (!(total >= 1)) {
      throw new RangeError(`Invalid byte budget: expected at least 1 byte, found ${total}`);
    }
    this.#total = total;
    this.#free = total;
  }

  /** Bytes the budget holds in all. */
  get total(): number {
    return this.#total;
  }

  /** Bytes not reserved now. */
  get free(): number {
    return this.#free;
  }

  /**
   * Reserves bytes, waiting while the budget has less than that free.
   * A request larger than the whole budget is lowered to the whole budget,
   * so it can always run alone.
   *
   * @param bytes Bytes wanted.
   * @param options `waitMs` bounds the wait; `signal` aborts it.
   * @returns The reservation.
   * @throws {BudgetBusyError} When the bytes did not come free within `waitMs`.
   * @throws The signal's reason when aborted while waiting.
   */
  async reserve(
    bytes: number,
    options: { waitMs: number; signal?: AbortSignal },
  ): Promise<Reservation> {
    const { signal } = options;
    signal?.throwIfAborted();
    const want = Math.max(0, Math.min(Math.ceil(bytes), this.#total));
    if (want <= this.#free) {
      this.#free -= want;
      return this.#reservation(want);
    }
    await new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const waiter: Waiter = {
        bytes: want,
        grant: () => {
          done();
          resolve();
        },
      };
      const leave = (error: unknown) => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        done();
        // The head may have been waiting behind this one.
        this.#wake();
        reject(error);
      };
      const onAbort = () => leave(signal?.reason);
      const timer = setTimeout(() => {
        leave(
          new BudgetBusyError(
            `The gateway is busy with other large outputs: ${
              mib(want)
            } of output memory did not come free within ${options.waitMs} ms; try again shortly`,
          ),
        );
      }, options.waitMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(waiter);
    });
    return this.#reservation(want);
  }

  #reservation(initial: number): Reservation {
    let held = initial;
    const give = (bytes: number) => {
      this.#free += bytes;
      this.#wake();
    };
    return {
      get bytes() {
        return held;
      },
      shrink: (bytes: number) => {
        const next = Math.max(0, Math.min(held, Math.ceil(bytes)));
        const freed = held - next;
        held = next;
        if (freed > 0) give(freed);
      },
      release: () => {
        const freed = held;
        held = 0;
        if (freed > 0) give(freed);
      },
    };
  }

  /**
   * Grants waiters in arrival order, each one that fits: a small call is not
   * held up behind a large one that waits for more room (a large one that
   * keeps not fitting ends as busy after its bounded wait).
   */
  #wake(): void {
    for (let i = 0; i < this.#waiters.length && this.#free > 0;) {
      const waiter = this.#waiters[i];
      if (waiter.bytes > this.#free) {
        i++;
        continue;
      }
      this.#waiters.splice(i, 1);
      this.#free -= waiter.bytes;
      waiter.grant();
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
