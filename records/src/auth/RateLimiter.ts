// Fixed-window counters per key (login: per IP and per e-mail), in memory.
// With skipSuccessful (the guide's RATE_LIMIT_SKIP_SUCCESSFUL_REQUESTS), only
// failures count, so a user who types the right password is never locked out
// by their own successful logins.
//
// Unauthenticated callers choose the keys, so memory is bounded: asking about a
// key never stores it, only a counted failure does, and beyond maxKeys the
// oldest windows are forgotten (a Map iterates in insertion order and a new
// window is re-inserted, so the first entry is the oldest: O(1) per eviction).

export interface RateLimitOptions {
  windowMs: number;
  max: number;
  skipSuccessful: boolean;
  /** Most keys tracked at once (default 100 000); beyond it the oldest windows are dropped. */
  maxKeys?: number;
  now?: () => number;
}

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #now: () => number;
  readonly #maxKeys: number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: RateLimitOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#maxKeys = Math.max(1, options.maxKeys ?? 100_000);
  }

  /** Keys tracked now. */
  get size(): number {
    return this.#windows.size;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. Stores nothing. */
  retryAfterMs(key: string): number {
    const w = this.#windows.get(key);
    if (!w) return 0;
    const left = w.start + this.#options.windowMs - this.#now();
    if (left <= 0) {
      this.#windows.delete(key);
      return 0;
    }
    return w.count >= this.#options.max ? left : 0;
  }

  /** Counts one attempt's outcome. */
  record(key: string, succeeded: boolean): void {
    if (succeeded && this.#options.skipSuccessful) return;
    const now = this.#now();
    const w = this.#windows.get(key);
    if (w && now - w.start < this.#options.windowMs) {
      w.count++;
      return;
    }
    // A new window goes to the end, so the map stays ordered by window start.
    this.#windows.delete(key);
    this.#windows.set(key, { start: now, count: 1 });
    while (this.#windows.size > this.#maxKeys) {
      const oldest = this.#windows.keys().next().value as string;
      this.#windows.delete(oldest);
    }
  }
}
