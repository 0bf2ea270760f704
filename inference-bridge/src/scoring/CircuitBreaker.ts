// Whether the node's LLM is worth asking. After `failureThreshold`
// consecutive failures (one is enough when nobody answers at all) it is left
// alone for a cool-off period, so each request does not pay for a connection
// error or a timeout. One per node, shared by the scorer and the follow-up
// planner: they ask the same Ollama, so the failures of either count.

export interface CircuitBreakerOptions {
  /** How long the LLM is skipped once it is considered down. */
  coolOffMs?: number;
  /** Consecutive failures (of any reason) that make it down. */
  failureThreshold?: number;
  now?: () => number;
}

/** Failures that say nobody can answer: one is enough to cool off. */
const DOWN_AT_ONCE = new Set(["unavailable", "model_not_found"]);

export class CircuitBreaker {
  readonly coolOffMs: number;
  readonly #threshold: number;
  readonly #now: () => number;
  #failures = 0;
  #downUntil = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    this.coolOffMs = options.coolOffMs ?? 30_000;
    this.#threshold = options.failureThreshold ?? 3;
    this.#now = options.now ?? Date.now;
  }

  /** False while cooling off after failures. */
  get available(): boolean {
    return this.#now() >= this.#downUntil;
  }

  /** Consecutive failures so far. */
  get failures(): number {
    return this.#failures;
  }

  /** The LLM answered: the count starts over. True when it had been taken for down (worth a log line). */
  succeeded(): boolean {
    const wasDown = this.#failures >= this.#threshold || this.#downUntil > 0;
    this.#failures = 0;
    this.#downUntil = 0;
    return wasDown;
  }

  /** The LLM failed with `reason`. True when this failure starts a cool-off. */
  failed(reason: string): boolean {
    this.#failures++;
    // After a cool-off one more failure is enough: the count is kept until a success.
    if (!DOWN_AT_ONCE.has(reason) && this.#failures < this.#threshold) return false;
    this.#downUntil = this.#now() + this.coolOffMs;
    return true;
  }
}
