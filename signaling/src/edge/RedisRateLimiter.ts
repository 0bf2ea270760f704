// Fixed-window request counting shared by every node through Redis: the
// same windows as the in-memory limiter (aligned to multiples of windowMs),
// one INCR per request with the key expiring with its window. While Redis is
// unreachable the node counts alone in memory rather than refusing everyone
// or letting everyone through.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { MemoryRateLimiter } from "./MemoryRateLimiter.ts";
import type { RateDecision, RateLimiter, RateLimitOptions } from "./RateLimiter.ts";

// INCR, and set the expiry on the window's first request, atomically.
const COUNT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

export class RedisRateLimiter implements RateLimiter {
  readonly #o: RateLimitOptions;
  readonly #redis: Redis;
  readonly #fallback: MemoryRateLimiter;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #prefix: string;
  #warned = false;

  constructor(options: RateLimitOptions & { redis: Redis; logger: Logger; prefix?: string; now?: () => number }) {
    this.#o = options;
    this.#redis = options.redis;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#fallback = new MemoryRateLimiter({ ...options, now: this.#now });
    this.#prefix = options.prefix ?? "parley:rl:";
  }

  async consume(key: string): Promise<RateDecision> {
    const now = this.#now();
    const window = Math.floor(now / this.#o.windowMs);
    const retryAfterMs = (window + 1) * this.#o.windowMs - now;
    let used: number;
    try {
      used = Number(await this.#redis.eval(COUNT, 1, this.#key(window, key), String(this.#o.windowMs + 1_000)));
      this.#warned = false;
    } catch (err) {
      if (!this.#warned)
        this.#logger.warn(
          { err: (err as Error).message, limit: this.#o.name },
          "rate limit counted locally: redis unreachable",
        );
      this.#warned = true;
      return this.#fallback.consume(key);
    }
    if (used > this.#o.max) return { allowed: false, remaining: 0, retryAfterMs };
    return { allowed: true, remaining: this.#o.max - used, retryAfterMs: 0 };
  }

  async refund(key: string): Promise<void> {
    const window = Math.floor(this.#now() / this.#o.windowMs);
    try {
      await this.#redis.decr(this.#key(window, key));
    } catch {
      await this.#fallback.refund(key);
    }
  }

  close(): void {
    this.#fallback.close();
  }

  #key(window: number, key: string): string {
    return `${this.#prefix}${this.#o.name}:${window}:${key}`;
  }
}
