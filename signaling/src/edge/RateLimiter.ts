// Request rate limits by key (a client address, a store, later a login).
// The in-memory limiter serves one node; with REDIS_URL the Redis-backed one
// shares counters across nodes behind the same interface, which is why every
// call is asynchronous.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { rateLimitRefusals } from "../metrics.ts";
import { MemoryRateLimiter } from "./MemoryRateLimiter.ts";
import { RedisRateLimiter } from "./RedisRateLimiter.ts";

export interface RateDecision {
  allowed: boolean;
  /** Requests left in the current window. */
  remaining: number;
  /** When the window resets (only meaningful when not allowed), ms from now. */
  retryAfterMs: number;
}

export interface RateLimiter {
  /** Counts one request of `key` and says whether it is within the limit. */
  consume(key: string): Promise<RateDecision>;
  /**
   * Takes back one counted request of `key`: what a login does after a
   * success when RATE_LIMIT_SKIP_SUCCESSFUL_REQUESTS is on.
   */
  refund(key: string): Promise<void>;
  close(): void;
}

export interface RateLimitOptions {
  /** Names the limit in logs and, later, in Redis keys ("sessions-ip", "login"). */
  name: string;
  windowMs: number;
  max: number;
}

/**
 * The node's limiter factory: shared through Redis when there is one, else in
 * memory; every refusal is counted in rate_limit_refusals_total{limit=name}.
 */
export function createRateLimiter(options: RateLimitOptions, shared?: { redis: Redis; logger: Logger }): RateLimiter {
  const limiter = shared ? new RedisRateLimiter({ ...options, ...shared }) : new MemoryRateLimiter(options);
  return countingRefusals(limiter, options.name);
}

function countingRefusals(limiter: RateLimiter, name: string): RateLimiter {
  const refused = rateLimitRefusals.labels({ limit: name });
  refused.inc(0);
  return {
    async consume(key) {
      const decision = await limiter.consume(key);
      if (!decision.allowed) refused.inc();
      return decision;
    },
    refund: (key) => limiter.refund(key),
    close: () => limiter.close(),
  };
}

/** The `Retry-After` header value (whole seconds, at least 1) for a refusal. */
export const retryAfterSeconds = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));
