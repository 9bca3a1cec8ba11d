/**
 * A counting semaphore with abortable waits, used to hold each target to its
 * `concurrency` constraint and fan-outs to their `forks`.
 *
 * @module
 */

/** Limits how many holders run at once; the rest wait in arrival order. */
export class Semaphore {
  #free: number;
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];

  /**
   * @param size How many may hold it at once (at least 1).
   * @throws {RangeError} When size is below 1.
   */
  constructor(size: number) {
    if (!(size >= 1)) {
      throw new RangeError(`Invalid semaphore size: expected at least 1, found ${size}`);
    }
    this.#free = size;
  }

  /**
   * Waits for a slot.
   *
   * @param signal Aborts the wait.
   * @returns A function that releases the slot; call it exactly once.
   * @throws The signal's reason when aborted while waiting.
   */
  async acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#free > 0) {
      this.#free--;
    } else {
      await new Promise<void>((resolve, reject) => {
        const waiter = {
          resolve: () => {
            signal?.removeEventListener("abort", onAbort);
            resolve();
          },
          reject,
        };
        const onAbort = () => {
          const index = this.#waiters.indexOf(waiter);
          if (index >= 0) this.#waiters.splice(index, 1);
          reject(signal?.reason);
        };
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#waiters.push(waiter);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next.resolve();
      else this.#free++;
    };
  }
}
