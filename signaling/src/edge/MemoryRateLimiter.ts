// Fixed-window request counting in this process: every key's window starts
// at the same multiple of windowMs, so one clear() ends all windows at once
// and nothing has to expire key by key. A client may get up to twice the
// limit across a window boundary (the usual fixed-window trade for O(1)
// work and no timers); memory is bounded by maxKeys, beyond which new keys
// share one counter.
import type { RateDecision, RateLimiter, RateLimitOptions } from "./RateLimiter.ts";

const OVERFLOW_KEY = "\0overflow";

export class MemoryRateLimiter implements RateLimiter {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #counts = new Map<string, number>();
  #window = -1;

  constructor(options: RateLimitOptions & { maxKeys?: number; now?: () => number }) {
    if (options.windowMs <= 0 || options.max < 0) throw new RangeError(`bad rate limit for ${options.name}`);
    this.#windowMs = options.windowMs;
    this.#max = options.max;
    this.#maxKeys = options.maxKeys ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  consume(key: string): Promise<RateDecision> {
    return Promise.resolve(this.consumeNow(key));
  }

  /** The synchronous core of consume() (the in-memory limiter needs no await). */
  consumeNow(key: string): RateDecision {
    const now = this.#now();
    this.#roll(now);
    const counted = this.#counts.has(key) || this.#counts.size < this.#maxKeys ? key : OVERFLOW_KEY;
    const used = this.#counts.get(counted) ?? 0;
    if (used >= this.#max) {
      return { allowed: false, remaining: 0, retryAfterMs: (this.#window + 1) * this.#windowMs - now };
    }
    this.#counts.set(counted, used + 1);
    return { allowed: true, remaining: this.#max - used - 1, retryAfterMs: 0 };
  }

  refund(key: string): Promise<void> {
    const used = this.#counts.get(key);
    if (used !== undefined) {
      if (used <= 1) this.#counts.delete(key);
      else this.#counts.set(key, used - 1);
    }
    return Promise.resolve();
  }

  /** Keys counted in the current window (tests, monitoring). */
  get size(): number {
    return this.#counts.size;
  }

  close(): void {
    this.#counts.clear();
  }

  #roll(now: number): void {
    const window = Math.floor(now / this.#windowMs);
    if (window === this.#window) return;
    this.#window = window;
    this.#counts.clear();
  }
}
