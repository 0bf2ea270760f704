// Admission control for LLM requests on this node: at most `maxConcurrent`
// run, at most `maxWaiting` wait; beyond that a request is refused at once,
// because a request that would wait behind a long queue is better served by
// the built-in engine now than by the LLM late.
import { abortedError, ScoringError } from "./types.ts";

export interface BoundedQueueOptions {
  maxConcurrent: number;
  maxWaiting: number;
  /** Called with the number of waiting requests whenever it changes (the llm_queue_size gauge). */
  onWaitingChange?: (waiting: number) => void;
}

interface Waiter {
  grant: (release: () => void) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class BoundedQueue {
  readonly #options: BoundedQueueOptions;
  readonly #waiters: Waiter[] = [];
  #running = 0;

  constructor(options: BoundedQueueOptions) {
    this.#options = options;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with a release function once a slot is free; rejects "queue_full" or "aborted". */
  acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortedError(signal));
    if (this.#running < this.#options.maxConcurrent) return Promise.resolve(this.#take());
    if (this.#waiters.length >= this.#options.maxWaiting) {
      return Promise.reject(
        new ScoringError("queue_full", `LLM queue full (${this.#options.maxWaiting} waiting)`, { retryable: true }),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          this.#remove(waiter);
          reject(abortedError(signal));
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#options.onWaitingChange?.(this.#waiters.length);
    });
  }

  #take(): () => void {
    this.#running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#running--;
      const next = this.#waiters.shift();
      if (!next) return;
      next.signal.removeEventListener("abort", next.onAbort);
      this.#options.onWaitingChange?.(this.#waiters.length);
      next.grant(this.#take());
    };
  }

  #remove(waiter: Waiter): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    this.#options.onWaitingChange?.(this.#waiters.length);
  }
}
