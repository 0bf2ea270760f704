// Shared shapes of the scoring engines. A score mirrors parley.live.v1.FeedbackScore
// minus the conversation fields (session, segment, finality), which the caller adds.
import type { Logger } from "pino";

/** Topics any engine may report (snake_case, as on the wire). */
export const TOPICS = [
  "service",
  "waiting_time",
  "cleanliness",
  "price",
  "product_quality",
  "payment",
  "atmosphere",
  "availability",
] as const;
export type Topic = (typeof TOPICS)[number];

/** The parts a follow-up question or a hint can aim at. */
export type ScorePart = "specificity" | "actionability" | "relevance" | "sentiment";

export interface FeedbackScoreResult {
  /** 0..100, integer. */
  score: number;
  /** 0..1: concrete details (what, when, which product or member of staff). */
  specificity: number;
  /** 0..1: something the business can change (or keep doing). */
  actionability: number;
  /** -1..1. */
  sentiment: number;
  /** 0..1: about this visit, not filler or off-topic. */
  relevance: number;
  topics: Topic[];
  /** One short suggestion for the customer. */
  hint: string;
  /** "builtin" or "ollama:<model>": who produced this score. */
  engine: string;
}

/**
 * Where an LLM request stands in the node's queue: "urgent" ones (a turn's
 * follow-up, a final score: someone waits for them) go before "routine" ones
 * (re-scores of partials, of which a newer one soon comes anyway).
 */
export type LlmPriority = "urgent" | "routine";

export interface ScoringEngine {
  readonly name: string;
  /**
   * Rejects with a ScoringError; with reason "aborted" when `signal` fired.
   * `log`: the caller's logger (a conversation's, with its session id) for
   * what this request logs; absent, the engine's own. `priority` (default
   * "routine"): its place in the node's LLM queue, for engines that have one.
   */
  score(text: string, signal: AbortSignal, log?: Logger, priority?: LlmPriority): Promise<FeedbackScoreResult>;
  /** The engine one conversation scores with (absent: this one); see FallbackScorer. */
  forConversation?(log?: Logger): ScoringEngine;
  /**
   * This engine for a conversation in `language` (BCP 47, "sv-SE"; absent or
   * empty: English): the built-in rubric's word lists, and how a model's score
   * is grounded, depend on it. Absent: the engine serves every language as is.
   */
  forLanguage?(language: string | undefined): ScoringEngine;
}

export type ScoringFailureReason =
  | "aborted" // the caller cancelled: not a failure of the engine
  | "timeout"
  | "unavailable" // connection refused, unknown host: the server is not there
  | "model_not_found"
  | "overloaded" // the server said 503/429
  | "queue_full" // this node's bounded queue is full
  | "http_error"
  | "stream_broken" // the stream ended or the socket closed before `done`
  | "model_error" // the server reported an error inside the stream
  | "malformed"; // the model's JSON did not parse or validate

/**
 * A failed score. `retryable` says whether trying again soon may succeed
 * (overload, a broken stream); an absent server or a malformed answer is not.
 */
export class ScoringError extends Error {
  readonly reason: ScoringFailureReason;
  readonly retryable: boolean;
  readonly status: number | undefined;

  constructor(
    reason: ScoringFailureReason,
    message: string,
    options: { retryable?: boolean; status?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ScoringError";
    this.reason = reason;
    this.retryable = options.retryable ?? false;
    this.status = options.status;
  }
}

export const isAbort = (err: unknown): boolean =>
  (err instanceof ScoringError && err.reason === "aborted") || (err instanceof Error && err.name === "AbortError");

export const abortedError = (signal: AbortSignal): ScoringError =>
  signal.reason instanceof ScoringError && signal.reason.reason === "aborted"
    ? signal.reason
    : new ScoringError("aborted", "scoring cancelled", { cause: signal.reason });

export const clamp = (value: number, min: number, max: number): number =>
  Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : min;

/**
 * Score parts from weakest to strongest. Sentiment counts by how clearly it
 * was expressed (|sentiment|), never by its sign: a complaint is not weak
 * feedback. Low relevance (< 0.4) comes first: details about something else
 * are worth nothing, so bring the customer back to the visit before anything.
 */
export function weakestParts(parts: Pick<FeedbackScoreResult, ScorePart>): ScorePart[] {
  const offTopic = parts.relevance < 0.4;
  const values: [ScorePart, number][] = [
    ["relevance", parts.relevance],
    ["specificity", parts.specificity],
    ["actionability", parts.actionability],
    ["sentiment", Math.min(1, Math.abs(parts.sentiment) * 2)],
  ];
  // Stable sort: on a tie the order above (relevance first) wins.
  return values
    .sort((a, b) => (offTopic ? Number(b[0] === "relevance") - Number(a[0] === "relevance") : 0) || a[1] - b[1])
    .map(([part]) => part);
}
