// Prometheus metrics of scoring and the LLM client (prom-client default registry,
// names as in the deployment guide).
import { Counter, Gauge, Histogram } from "prom-client";
import type { FeedbackScoreResult, ScoringFailureReason } from "./types.ts";

export const llmTimeToFirstToken = new Histogram({
  name: "llm_time_to_first_token_seconds",
  help: "LLM request sent to the first streamed content token",
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5],
});

export const llmRequestDuration = new Histogram({
  name: "llm_request_duration_seconds",
  help: "LLM request sent to the end of its stream (successful attempts)",
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10],
});

export const llmTokens = new Counter({
  name: "llm_tokens_total",
  help: "Tokens processed by the LLM, as reported by the server",
  labelNames: ["kind"] as const, // prompt | completion
});

export const llmFailures = new Counter({
  name: "llm_failures_total",
  help: "Failed LLM attempts (caller cancellations excluded), by reason",
  labelNames: ["reason"] as const,
});

export const scoringFallbacks = new Counter({
  name: "scoring_fallbacks_total",
  help: "Scores produced by the built-in engine because the primary failed or is cooling off, by reason",
  labelNames: ["reason"] as const,
});
// Every reason at 0 from start-up (ScoringFallingBack takes a rate of them; a
// counter series that first appears at 1 shows no increase).
for (const reason of [
  "conversation_fell_back",
  "cooling_off",
  "error",
  "timeout",
  "unavailable",
  "model_not_found",
  "overloaded",
  "queue_full",
  "http_error",
  "stream_broken",
  "model_error",
  "malformed",
] satisfies (ScoringFailureReason | "conversation_fell_back" | "cooling_off" | "error")[])
  scoringFallbacks.inc({ reason }, 0);

export const llmQueueSize = new Gauge({
  name: "llm_queue_size",
  help: "LLM requests waiting for a free slot on this node",
});

export const feedbackQualityScore = new Histogram({
  name: "feedback_quality_score",
  help: "Final quality score of finished conversations (0..100)",
  buckets: [0, 20, 40, 60, 80, 100],
});

/** Records a conversation's FINAL score; partial and per-segment scores must not be observed. */
export function observeFinalScore(score: number | Pick<FeedbackScoreResult, "score">): void {
  feedbackQualityScore.observe(typeof score === "number" ? score : score.score);
}
