// Admission control for LLM requests on this node: at most `maxConcurrent`
// run, at most `maxWaiting` wait; beyond that a request is refused at once,
// because a request that would wait behind a long queue is better served by
// the built-in engine now than by the LLM late.
//
// Urgent requests (a turn's follow-up, a final score) wait ahead of routine
// ones (partial re-scores), first come first served within each; when the
// waiting room is full, an urgent request takes the place of the newest
// routine one, which is refused as if it had come too late.
import { abortedError, type LlmPriority, ScoringError } from "./types.ts";

export interface BoundedQueueOptions {
  maxConcurrent: number;
  maxWaiting: number;
  /** Called with the number of waiting requests whenever it changes (the llm_queue_size gauge). */
  onWaitingChange?: (waiting: number) => void;
}

interface Waiter {
  priority: LlmPriority;
  grant: (release: () => void) => void;
  refuse: (error: Error) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

export class BoundedQueue {
  readonly #options: BoundedQueueOptions;
  /** Urgent waiters first, then routine ones; each in order of arrival. */
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
  acquire(signal: AbortSignal, priority: LlmPriority = "routine"): Promise<() => void> {
    if (signal.aborted) return Promise.reject(abortedError(signal));
    if (this.#running < this.#options.maxConcurrent) return Promise.resolve(this.#take());
    if (this.#waiters.length >= this.#options.maxWaiting && !(priority === "urgent" && this.#bumpRoutine())) {
      return Promise.reject(this.#fullError());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        grant: resolve,
        refuse: reject,
        signal,
        onAbort: () => {
          this.#remove(waiter);
          reject(abortedError(signal));
        },
      };
      signal.addEventListener("abort", waiter.onAbort, { once: true });
      const firstRoutine = this.#waiters.findIndex((w) => w.priority === "routine");
      const at = priority === "urgent" && firstRoutine >= 0 ? firstRoutine : this.#waiters.length;
      this.#waiters.splice(at, 0, waiter);
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

  /** Refuses the newest routine waiter to make room; false when every waiter is urgent. */
  #bumpRoutine(): boolean {
    const newest = this.#waiters.findLastIndex((w) => w.priority === "routine");
    if (newest < 0) return false;
    const [bumped] = this.#waiters.splice(newest, 1);
    bumped!.signal.removeEventListener("abort", bumped!.onAbort);
    bumped!.refuse(this.#fullError());
    return true;
  }

  #fullError(): ScoringError {
    return new ScoringError("queue_full", `LLM queue full (${this.#options.maxWaiting} waiting)`, { retryable: true });
  }

  #remove(waiter: Waiter): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    this.#options.onWaitingChange?.(this.#waiters.length);
  }
}
