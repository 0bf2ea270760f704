// Fixed-window counters per key (login: per IP and per e-mail), in memory.
// With skipSuccessful (the guide's RATE_LIMIT_SKIP_SUCCESSFUL_REQUESTS), only
// failures count, so a user who types the right password is never locked out
// by their own successful logins.

export interface RateLimitOptions {
  windowMs: number;
  max: number;
  skipSuccessful: boolean;
  now?: () => number;
}

export class RateLimiter {
  readonly #options: RateLimitOptions;
  readonly #now: () => number;
  readonly #windows = new Map<string, { start: number; count: number }>();

  constructor(options: RateLimitOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Milliseconds until `key` may try again; 0 when it may now. */
  retryAfterMs(key: string): number {
    const w = this.#window(key);
    return w.count >= this.#options.max ? w.start + this.#options.windowMs - this.#now() : 0;
  }

  /** Counts one attempt's outcome. */
  record(key: string, succeeded: boolean): void {
    if (succeeded && this.#options.skipSuccessful) return;
    this.#window(key).count++;
  }

  #window(key: string) {
    const now = this.#now();
    let w = this.#windows.get(key);
    if (!w || now - w.start >= this.#options.windowMs) {
      w = { start: now, count: 0 };
      this.#windows.set(key, w);
      if (this.#windows.size > 100_000) this.#prune(now);
    }
    return w;
  }

  #prune(now: number): void {
    for (const [key, w] of this.#windows) if (now - w.start >= this.#options.windowMs) this.#windows.delete(key);
  }
}
