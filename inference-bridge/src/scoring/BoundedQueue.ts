// Admission control for LLM requests on this node (BoundedSlots): a request
// refused for want of room fails as "queue_full", which the fallback scorer
// answers with the built-in engine at once. So does one whose time budget went
// to waiting for a slot (nodeBusyError): both say this node is short of LLM
// slots, nothing about Ollama, so neither counts as Ollama failing.
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

/**
 * A request whose budget went to waiting for a slot here rather than to
 * Ollama: it expired in the line, or was left too little time to be answered.
 */
export function nodeBusyError(waitedMs: number, ollamaMs = 0): ScoringError {
  return new ScoringError(
    "queue_full",
    `LLM budget spent waiting for a slot on this node (${Math.round(waitedMs)} ms waiting, ${Math.round(ollamaMs)} ms with Ollama)`,
  );
}
