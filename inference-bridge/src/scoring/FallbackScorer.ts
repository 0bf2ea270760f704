// Primary engine (Ollama) with the built-in engine behind it. When the
// primary is unreachable, or keeps failing, it is left alone for a cool-off
// period (CircuitBreaker) so each request does not pay for a connection error
// or a timeout. When this node is short of LLM slots ("queue_full": no room in
// its queue, or a request's budget spent waiting there), Ollama has not failed:
// that request alone falls back, nothing cools off, no conversation switches.
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
  /** Consecutive failures (of any reason but this node's own queue) that make the primary down. */
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
   * fallback because the primary failed, the rest of it does too. Engines rate
   * differently (a 70 from Ollama may be a 35 from the rubric): a
   * conversation's scores switch at most once, and its final score comes from
   * the engine of its latest ones. A score that fell back only because this
   * node was busy does not switch it: that one update comes from the rubric
   * (answering now beats answering late), the next from Ollama again, which
   * has not failed. Switching would move every conversation of a busy node
   * off a healthy Ollama for good.
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
        const { result, nodeBusy } = await this.#score(text, signal, log, priority);
        if (result.engine === this.#fallback.name && !nodeBusy) onFallback = true;
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
    return (await this.#score(text, signal, log, priority)).result;
  }

  /** The score, and whether it fell back only because this node had no LLM slot for it in time. */
  async #score(
    text: string,
    signal: AbortSignal,
    log: Logger | undefined,
    priority: LlmPriority | undefined,
  ): Promise<{ result: FeedbackScoreResult; nodeBusy: boolean }> {
    if (signal.aborted) throw abortedError(signal);
    if (!this.primaryAvailable) {
      scoringFallbacks.inc({ reason: "cooling_off" });
      return { result: await this.#fallback.score(text, signal), nodeBusy: false };
    }
    try {
      const result = await this.#primary.score(text, signal, log, priority);
      if (this.breaker.succeeded()) log?.info({ engine: this.#primary.name }, "scoring engine back");
      return { result, nodeBusy: false };
    } catch (err) {
      if (signal.aborted) throw abortedError(signal);
      const reason = err instanceof ScoringError ? err.reason : "error";
      // This node's own queue says nothing about Ollama: this request falls back, nothing cools off.
      if (reason === "queue_full") {
        scoringFallbacks.inc({ reason });
        log?.debug({ engine: this.#primary.name, reason, err }, "scoring fell back, this node is busy");
        return { result: await this.#fallback.score(text, signal), nodeBusy: true };
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
      return { result: await this.#fallback.score(text, signal), nodeBusy: false };
    }
  }
}
