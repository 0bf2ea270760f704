/** Retry policy as a plain object (livekit/agents' habit); milliseconds. */
export interface RetryPolicy {
  maxRetry: number;
  retryIntervalMs: number;
  /** Deadline for one attempt to become ready. */
  timeoutMs: number;
}

export const DEFAULT_ASR_RETRY: RetryPolicy = { maxRetry: 5, retryIntervalMs: 250, timeoutMs: 5_000 };

/** Exponential backoff capped at 8 intervals. */
export const backoffMs = (policy: RetryPolicy, attempt: number): number =>
  policy.retryIntervalMs * Math.min(2 ** attempt, 8);
