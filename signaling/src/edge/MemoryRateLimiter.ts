// Fixed-window request counting in this process: every key's window starts
// at the same multiple of windowMs, so one clear() ends all windows at once
// and nothing has to expire key by key. A client may get up to twice the
// limit across a window boundary (the usual fixed-window trade for O(1)
// work and no timers).
//
// Memory is bounded by maxKeys. Every key in the table is in the current
// window (older ones went with the clear), so a full table has nothing
// expired to drop: it forgets its oldest keys (a Map iterates in insertion
// order), a batch of 1/64 at a time because each restart of an iterator
// skips the holes earlier deletes left at the front. Keys at their limit
// are moved to the back rather than forgotten, up to a batch per sweep.
// The trade: a flood of new keys never makes strangers share a budget (a
// shared overflow counter let one attacker with cheap IPv6 /64s 429 every
// first-time customer for the rest of the window); at worst it lets a
// client under its limit start counting again, and to free a limited one
// the flood must itself be mostly limited keys (~maxKeys * max requests).
import type { RateDecision, RateLimiter, RateLimitOptions } from "./RateLimiter.ts";

export class MemoryRateLimiter implements RateLimiter {
  readonly #windowMs: number;
  readonly #max: number;
  readonly #maxKeys: number;
  readonly #evictBatch: number;
  readonly #now: () => number;
  readonly #counts = new Map<string, number>();
  #window = -1;

  constructor(options: RateLimitOptions & { maxKeys?: number; now?: () => number }) {
    const maxKeys = options.maxKeys ?? 100_000;
    if (options.windowMs <= 0 || options.max < 0 || !(maxKeys >= 1)) {
      throw new RangeError(`bad rate limit for ${options.name}`);
    }
    this.#windowMs = options.windowMs;
    this.#max = options.max;
    this.#maxKeys = maxKeys;
    this.#evictBatch = Math.ceil(maxKeys / 64);
    this.#now = options.now ?? Date.now;
  }

  consume(key: string): Promise<RateDecision> {
    return Promise.resolve(this.consumeNow(key));
  }

  /** The synchronous core of consume() (the in-memory limiter needs no await). */
  consumeNow(key: string): RateDecision {
    const now = this.#now();
    this.#roll(now);
    const seen = this.#counts.get(key);
    // A new key in a full table makes room by forgetting old ones, never by sharing a counter.
    if (seen === undefined && this.#counts.size >= this.#maxKeys) this.#evict();
    const used = seen ?? 0;
    if (used >= this.#max) {
      return { allowed: false, remaining: 0, retryAfterMs: (this.#window + 1) * this.#windowMs - now };
    }
    this.#counts.set(key, used + 1);
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

  /** Forgets the oldest batch of keys; up to a batch of keys at their limit go to the back instead. */
  #evict(): void {
    let forget = this.#evictBatch;
    let keep = this.#evictBatch;
    for (const [key, used] of this.#counts) {
      this.#counts.delete(key);
      // A key at its limit goes to the back: still limited, it keeps its count.
      if (used >= this.#max && keep-- > 0) this.#counts.set(key, used);
      else if (--forget === 0) return;
    }
  }
}
