// Primary engine (Ollama) with the built-in engine behind it. When the
// primary is unreachable, or keeps failing, it is left alone for a cool-off
// period (CircuitBreaker) so each request does not pay for a connection error
// or a timeout.
import type { Logger } from "pino";
import { CircuitBreaker } from "./CircuitBreaker.ts";
import { scoringFallbacks } from "./metrics.ts";
import { abortedError, type FeedbackScoreResult, type LlmPriority, type ScoringEngine, ScoringError } from "./types.ts";

export interface FallbackScorerOptions {
  primary: ScoringEngine;
  fallback: ScoringEngine;
  logger?: Logger;
  /** The node's breaker, when others (the follow-up planner) share it; else one of its own from the options below. */
  breaker?: CircuitBreaker;
  /** How long the primary is skipped once it is considered down. */
  coolOffMs?: number;
  /** Consecutive failures (of any reason) that make the primary down. */
  failureThreshold?: number;
  now?: () => number;
}

export class FallbackScorer implements ScoringEngine {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  readonly #primary: ScoringEngine;
  readonly #fallback: ScoringEngine;
  readonly #logger: Logger | undefined;

  constructor(options: FallbackScorerOptions) {
    this.#primary = options.primary;
    this.#fallback = options.fallback;
    this.#logger = options.logger;
    this.breaker =
      options.breaker ??
      new CircuitBreaker({
        coolOffMs: options.coolOffMs,
        failureThreshold: options.failureThreshold,
        now: options.now,
      });
    this.name = `${this.#primary.name}|${this.#fallback.name}`;
  }

  /**
   * The engine of one conversation: once one of its scores came from the
   * fallback, the rest of it does too. Engines rate differently (a 70 from
   * Ollama may be a 35 from the rubric): a conversation's scores switch at
   * most once, and its final score comes from the engine of its latest ones.
   */
  forConversation(log?: Logger): ScoringEngine {
    let onFallback = false;
    return {
      name: this.name,
      score: async (text, signal, _log, priority) => {
        if (onFallback) {
          // Still a fallback, for the alert on their rate: "cooling_off" when the node would have skipped Ollama too.
          scoringFallbacks.inc({ reason: this.primaryAvailable ? "conversation_fell_back" : "cooling_off" });
          return this.#fallback.score(text, signal);
        }
        const result = await this.score(text, signal, log, priority);
        if (result.engine === this.#fallback.name) onFallback = true;
        return result;
      },
    };
  }

  /** False while the primary is cooling off after failures. */
  get primaryAvailable(): boolean {
    return this.breaker.available;
  }

  async score(
    text: string,
    signal: AbortSignal,
    log: Logger | undefined = this.#logger,
    priority?: LlmPriority,
  ): Promise<FeedbackScoreResult> {
    if (signal.aborted) throw abortedError(signal);
    if (!this.primaryAvailable) {
      scoringFallbacks.inc({ reason: "cooling_off" });
      return this.#fallback.score(text, signal);
    }
    try {
      const result = await this.#primary.score(text, signal, log, priority);
      if (this.breaker.succeeded()) log?.info({ engine: this.#primary.name }, "scoring engine back");
      return result;
    } catch (err) {
      if (signal.aborted) throw abortedError(signal);
      const reason = err instanceof ScoringError ? err.reason : "error";
      // This node's own queue being full says nothing about Ollama: this request falls back, nothing cools off.
      if (reason === "queue_full") {
        scoringFallbacks.inc({ reason });
        return this.#fallback.score(text, signal);
      }
      if (this.breaker.failed(reason)) {
        log?.warn(
          {
            engine: this.#primary.name,
            reason,
            failures: this.breaker.failures,
            coolOffMs: this.breaker.coolOffMs,
            err,
          },
          "scoring engine down, using the built-in engine",
        );
      } else {
        log?.debug({ engine: this.#primary.name, reason, err }, "scoring fell back");
      }
      scoringFallbacks.inc({ reason });
      return this.#fallback.score(text, signal);
    }
  }
}
