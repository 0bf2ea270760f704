// Node-wide admission for synthesiser runs: at most `maxRunning` at once
// (flite is CPU-bound: more runs than cores only slow each other and the
// node's audio down), at most `maxWaiting` waiting in line. Beyond that a
// synthesis fails at once ("busy") instead of queueing without bound.
import { abortError } from "./ProcessLauncher.ts";
import { SynthesisError } from "./SynthesisError.ts";

export interface RunSlotsOptions {
  maxRunning: number;
  maxWaiting: number;
}

interface Waiter {
  grant: (release: () => void) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class RunSlots {
  readonly #options: RunSlotsOptions;
  readonly #waiters: Waiter[] = [];
  #running = 0;

  constructor(options: RunSlotsOptions) {
    this.#options = { maxRunning: Math.max(1, options.maxRunning), maxWaiting: Math.max(0, options.maxWaiting) };
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  /** Resolves with a release function once a run may start; rejects "busy", or with an AbortError. */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.#running < this.#options.maxRunning) return Promise.resolve(this.#take());
    if (this.#waiters.length >= this.#options.maxWaiting) {
      return Promise.reject(
        new SynthesisError("busy", `speech synthesis busy (${this.#running} running, ${this.#waiters.length} waiting)`),
      );
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        signal,
        onAbort: () => {
          const i = this.#waiters.indexOf(waiter);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(abortError(signal!));
        },
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
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
      next.grant(this.#take());
    };
  }
}
