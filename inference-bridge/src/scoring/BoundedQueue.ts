// Admission control for LLM requests on this node (BoundedSlots): a request
// refused for want of room fails as "queue_full", which the fallback scorer
// answers with the built-in engine at once.
import { BoundedSlots } from "../BoundedSlots.ts";
import { abortedError, ScoringError } from "./types.ts";

export interface BoundedQueueOptions {
  maxConcurrent: number;
  maxWaiting: number;
  /** Called with the number of waiting requests whenever it changes (the llm_queue_size gauge). */
  onWaitingChange?: (waiting: number) => void;
}

export class BoundedQueue extends BoundedSlots {
  constructor(options: BoundedQueueOptions) {
    super({
      maxRunning: options.maxConcurrent,
      maxWaiting: options.maxWaiting,
      // Not retryable: waiting for room here would only delay the built-in answer the caller falls back to.
      full: () => new ScoringError("queue_full", `LLM queue full (${options.maxWaiting} waiting)`),
      aborted: abortedError,
      onWaitingChange: options.onWaitingChange,
    });
  }
}
