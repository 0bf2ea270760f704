/** Retry policy as a plain object (livekit/agents' habit); milliseconds. */
export interface RetryPolicy {
  maxRetry: number;
  retryIntervalMs: number;
  /** Deadline for one attempt to become ready. */
  timeoutMs: number;
}

/**
 * 16 attempts: about 30 s of waits (0.25, 0.5, 1, then 2 s each) before a
 * stream gives up. A restarting worker (a Whisper model takes tens of seconds
 * to load) is waited for, and nothing said meanwhile is lost: the stream's
 * replay ring holds 60 s. Five attempts (6 s) ended every stream for good.
 */
export const DEFAULT_ASR_RETRY: RetryPolicy = { maxRetry: 16, retryIntervalMs: 250, timeoutMs: 5_000 };

/** Exponential backoff capped at 8 intervals. */
export const backoffMs = (policy: RetryPolicy, attempt: number): number =>
  policy.retryIntervalMs * Math.min(2 ** attempt, 8);
