// Builds a node's scoring from configuration: the built-in engine alone when
// no Ollama host is configured (the embedded default), else Ollama with the
// built-in engine as fallback. One OllamaClient per node, so the scorer and
// the LLM planner share one bounded queue, and one breaker, so the failures
// of either take Ollama out of the other's way too. Each conversation scores
// in its own language (forLanguage): the same client and breaker, that
// language's rubric.
import type { Logger } from "pino";
import { BuiltinScorer } from "./BuiltinScorer.ts";
import { CircuitBreaker } from "./CircuitBreaker.ts";
import { FallbackScorer, type FallbackScorerOptions } from "./FallbackScorer.ts";
import { BuiltinFollowUpPlanner, type FollowUpPlanner } from "./FollowUpPlanner.ts";
import { OllamaClient } from "./OllamaClient.ts";
import { OllamaFollowUpPlanner } from "./OllamaFollowUpPlanner.ts";
import { DEFAULT_OLLAMA_MODEL, OllamaScorer } from "./OllamaScorer.ts";
import type { ScoringEngine } from "./types.ts";

export interface ScoringConfig {
  /** OLLAMA_HOST; empty or absent: built-in engine only. */
  ollamaHost?: string | undefined;
  /** OLLAMA_MODEL, default qwen2:0.5b. */
  model?: string;
  /** Deadline of one LLM attempt. */
  timeoutMs?: number;
  /** Time all attempts of one request may take together. */
  budgetMs?: number;
  maxRetry?: number;
  maxConcurrent?: number;
  maxWaiting?: number;
  /** How long Ollama is skipped once found down. */
  coolOffMs?: number;
  failureThreshold?: number;
  /** Ask follow-ups through the LLM when Ollama is configured (default true). */
  llmFollowUps?: boolean;
  /** Longest the LLM may take to phrase a follow-up before the built-in planner's is asked (default 1.5 s). */
  followUpDeadlineMs?: number;
  /** For IncrementalScorer: minimum time between partial-based scores. */
  partialIntervalMs?: number;
  logger: Logger;
}

export interface Scoring {
  engine: ScoringEngine;
  planner: FollowUpPlanner;
  /** Present when Ollama is configured: for readiness probes (`probe()`). */
  ollama?: OllamaScorer;
  /** The node's one LLM client when Ollama is configured: its bounded queue, for the admin monitor. */
  llm?: OllamaClient;
}

/** The node's Ollama-then-rubric engine; per conversation language, one sharing its breaker and LLM queue. */
class NodeScorer extends FallbackScorer {
  readonly #options: FallbackScorerOptions & { primary: OllamaScorer; fallback: BuiltinScorer };

  constructor(options: FallbackScorerOptions & { primary: OllamaScorer; fallback: BuiltinScorer }) {
    super(options);
    this.#options = options;
  }

  forLanguage(language: string | undefined): ScoringEngine {
    const { primary, fallback } = this.#options;
    return new FallbackScorer({
      ...this.#options,
      primary: primary.forLanguage(language),
      fallback: fallback.forLanguage(language),
      breaker: this.breaker,
    });
  }
}

export function createScoring(config: ScoringConfig): Scoring {
  const builtin = new BuiltinScorer();
  const builtinPlanner = new BuiltinFollowUpPlanner();
  const host = config.ollamaHost?.trim();
  if (!host) return { engine: builtin, planner: builtinPlanner };
  const model = config.model || DEFAULT_OLLAMA_MODEL;
  const logger = config.logger.child({ component: "scoring", model });
  const client = new OllamaClient({
    host,
    retry: {
      ...(config.timeoutMs ? { timeoutMs: config.timeoutMs } : {}),
      ...(config.budgetMs ? { budgetMs: config.budgetMs } : {}),
      ...(config.maxRetry !== undefined ? { maxRetry: config.maxRetry } : {}),
    },
    ...(config.maxConcurrent ? { maxConcurrent: config.maxConcurrent } : {}),
    ...(config.maxWaiting !== undefined ? { maxWaiting: config.maxWaiting } : {}),
    logger,
  });
  const ollama = new OllamaScorer({ client, model });
  const breaker = new CircuitBreaker({
    ...(config.coolOffMs !== undefined ? { coolOffMs: config.coolOffMs } : {}),
    ...(config.failureThreshold ? { failureThreshold: config.failureThreshold } : {}),
  });
  const engine = new NodeScorer({ primary: ollama, fallback: builtin, logger, breaker });
  const planner =
    config.llmFollowUps === false
      ? builtinPlanner
      : new OllamaFollowUpPlanner({
          client,
          model,
          fallback: builtinPlanner,
          breaker,
          ...(config.followUpDeadlineMs ? { deadlineMs: config.followUpDeadlineMs } : {}),
          logger,
        });
  return { engine, planner, ollama, llm: client };
}

export const createScoringEngine = (config: ScoringConfig): ScoringEngine => createScoring(config).engine;
