// Feedback quality scoring: engines, the per-conversation incremental scorer,
// follow-up planners, live events and metrics. See RUBRIC.md for the built-in rubric.
export { BoundedQueue, type BoundedQueueOptions } from "./BoundedQueue.ts";
export { analyzeFeedback, BuiltinScorer, type FeedbackFeatures, scoreFeatures } from "./BuiltinScorer.ts";
export { CircuitBreaker, type CircuitBreakerOptions } from "./CircuitBreaker.ts";
export {
  createScoring,
  createScoringEngine,
  type Scoring,
  type ScoringConfig,
} from "./createScoring.ts";
export { type ScoreEventContext, scoreEvent, toFeedbackScore } from "./events.ts";
export { FallbackScorer, type FallbackScorerOptions } from "./FallbackScorer.ts";
export {
  BuiltinFollowUpPlanner,
  candidateFollowUps,
  type FollowUp,
  type FollowUpInput,
  type FollowUpPlanner,
  isRepeat,
} from "./FollowUpPlanner.ts";
export {
  type Clock,
  IncrementalScorer,
  type IncrementalScorerOptions,
  type ScoreBasis,
  type ScoreUpdate,
  systemClock,
} from "./IncrementalScorer.ts";
export { observeFinalScore } from "./metrics.ts";
export { DEFAULT_LLM_RETRY, type LlmRetryPolicy, OllamaClient, type OllamaClientOptions } from "./OllamaClient.ts";
export { OllamaFollowUpPlanner, type OllamaFollowUpPlannerOptions } from "./OllamaFollowUpPlanner.ts";
export { DEFAULT_OLLAMA_MODEL, OllamaScorer, type OllamaScorerOptions, parseScoreReply } from "./OllamaScorer.ts";
export {
  type FeedbackScoreResult,
  type LlmPriority,
  type ScorePart,
  type ScoringEngine,
  ScoringError,
  type ScoringFailureReason,
  TOPICS,
  type Topic,
  weakestParts,
} from "./types.ts";
