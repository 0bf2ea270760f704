// Scores as live events (parley.live.v1.FeedbackScore inside a LiveEvent), for
// the session's topic: every published score, partial-based ones included.
import { create } from "@bufbuild/protobuf";
import { type FeedbackScore, FeedbackScoreSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import type { FeedbackScoreResult } from "./types.ts";

export interface ScoreEventContext {
  /** Highest final segment id the scored text includes; 0 before the first final. */
  throughSegmentId?: number | undefined;
  /** The conversation's final score. */
  isFinal?: boolean;
}

export function toFeedbackScore(
  sessionId: string,
  result: FeedbackScoreResult,
  context: ScoreEventContext = {},
): FeedbackScore {
  return create(FeedbackScoreSchema, {
    sessionId,
    score: Math.round(result.score), // uint32 on the wire
    specificity: result.specificity,
    actionability: result.actionability,
    sentiment: result.sentiment,
    relevance: result.relevance,
    topics: result.topics,
    hint: result.hint,
    engine: result.engine,
    isFinal: context.isFinal ?? false,
    throughSegmentId: context.throughSegmentId ?? 0,
  });
}

export function scoreEvent(sessionId: string, result: FeedbackScoreResult, context: ScoreEventContext = {}): LiveEvent {
  return create(LiveEventSchema, { kind: { case: "score", value: toFeedbackScore(sessionId, result, context) } });
}
