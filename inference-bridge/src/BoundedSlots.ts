// Admission control for a node-wide resource (LLM requests, synthesiser runs):
// at most `maxRunning` at once and at most `maxWaiting` in line; beyond that a
// request is refused at once rather than queued without bound, since its caller
// has a cheaper answer now (the built-in engine, a failed clause) than a late one.
//
// Urgent requests wait ahead of routine ones, first come first served within
// each; when the line is full, an urgent request takes the place of the newest
// routine one, which is refused as if it had come too late.

export type SlotPriority = "urgent" | "routine";

export interface BoundedSlotsOptions {
  maxRunning: number;
  maxWaiting: number;
  /** The error of a request refused for want of room (or bumped by an urgent one). */
  full: (running: number, waiting: number) => Error;
  /** The error of a request whose caller gave up (its signal aborted). */
  aborted: (signal: AbortSignal) => Error;
  /** Called with the number of waiting requests whenever it changes (a queue-size gauge). */
  onWaitingChange?: (waiting: number) => void;
}

interface Waiter {
  priority: SlotPriority;
  grant: (release: () => void) => void;
  refuse: (error: Error) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class BoundedSlots {
  readonly #o: BoundedSlotsOptions;
  /** Urgent waiters first, then routine ones; each in order of arrival. */
  readonly #waiters: Waiter[] = [];
  #running = 0;

  constructor(options: BoundedSlotsOptions) {
    this.#o = options;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with a release function (safe to call twice) once a slot is free; rejects full or aborted. */
  acquire(signal?: AbortSignal, priority: SlotPriority = "routine"): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(this.#o.aborted(signal));
    if (this.#running < this.#o.maxRunning) return Promise.resolve(this.#take());
    if (this.#waiters.length >= this.#o.maxWaiting && !(priority === "urgent" && this.#bumpRoutine()))
      return Promise.reject(this.#fullError());
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        grant: resolve,
        refuse: reject,
        signal,
        onAbort: () => {
          this.#remove(waiter);
          reject(this.#o.aborted(signal!));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      const firstRoutine = this.#waiters.findIndex((w) => w.priority === "routine");
      const at = priority === "urgent" && firstRoutine >= 0 ? firstRoutine : this.#waiters.length;
      this.#waiters.splice(at, 0, waiter);
      this.#o.onWaitingChange?.(this.#waiters.length);
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
      next.signal?.removeEventListener("abort", next.onAbort);
      this.#o.onWaitingChange?.(this.#waiters.length);
      next.grant(this.#take());
    };
  }

  /** Refuses the newest routine waiter to make room; false when every waiter is urgent. */
  #bumpRoutine(): boolean {
    const newest = this.#waiters.findLastIndex((w) => w.priority === "routine");
    if (newest < 0) return false;
    const [bumped] = this.#waiters.splice(newest, 1);
    bumped!.signal?.removeEventListener("abort", bumped!.onAbort);
    bumped!.refuse(this.#fullError());
    return true;
  }

  #fullError(): Error {
    return this.#o.full(this.#running, this.#waiters.length);
  }

  #remove(waiter: Waiter): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    this.#o.onWaitingChange?.(this.#waiters.length);
  }
}
