// The wall's history from the records database: the records package runs the
// SQL (its queries know its schema and take the caller's scope); this adapter
// only turns its results into the dashboard protocol's messages.
import { create } from "@bufbuild/protobuf";
import { EndReason, type FeedbackScore, FeedbackScoreSchema } from "@parley/proto/live";
import {
  type Conversation,
  ConversationSchema,
  type Feedback,
  FeedbackSchema,
  type Tiles,
  TilesSchema,
  TrendRange,
  type Trends,
  TrendsSchema,
} from "@parley/proto/wall";
import type { FeedbackRecord, ScoreRecord, TrendSpan, WallQueries, WallQueryScope } from "@parley/records";
import type {
  DayWindow,
  HistoryFilter,
  HistoryPage,
  HistoryPosition,
  HistoryScope,
  WallHistory,
} from "./WallHistory.ts";

const SPAN: Record<TrendRange, TrendSpan> = {
  [TrendRange.UNSPECIFIED]: "today",
  [TrendRange.TODAY]: "today",
  [TrendRange.DAYS_7]: "days7",
  [TrendRange.DAYS_30]: "days30",
};
const RANGE: Record<TrendSpan, TrendRange> = {
  today: TrendRange.TODAY,
  days7: TrendRange.DAYS_7,
  days30: TrendRange.DAYS_30,
};

const queryScope = (scope: HistoryScope): WallQueryScope => ({
  businessId: scope.businessId,
  storeCodes: scope.storeCodes ? [...scope.storeCodes] : undefined,
});

function score(sessionId: string, s: ScoreRecord, isFinal: boolean): FeedbackScore {
  return create(FeedbackScoreSchema, { sessionId, ...s, isFinal });
}

function feedback(f: FeedbackRecord): Feedback {
  return create(FeedbackSchema, {
    sessionId: f.sessionId,
    storeCode: f.storeCode,
    businessId: f.businessId,
    language: f.language,
    startedAtMs: BigInt(f.startedAtMs),
    endedAtMs: BigInt(f.endedAtMs),
    ...(f.finalScore ? { finalScore: score(f.sessionId, f.finalScore, true) } : {}),
    transcript: f.transcript,
    summary: f.summary,
    reason: EndReason[f.endReason as keyof typeof EndReason] ?? EndReason.UNSPECIFIED,
    rewardMinor: f.reward?.amountMinor ?? 0,
    currency: f.reward?.currency ?? "",
    rewardStatus: f.reward?.status ?? "",
    rewardReason: f.reward?.reason ?? "",
    fraudFlags: f.fraudFlags,
    qualityFlags: f.qualityFlags,
  });
}

export class RecordsWallHistory implements WallHistory {
  readonly source = "records";
  readonly #queries: WallQueries;

  constructor(queries: WallQueries) {
    this.#queries = queries;
  }

  async page(scope: HistoryScope, limit: number, filter: HistoryFilter, after?: HistoryPosition): Promise<HistoryPage> {
    const page = await this.#queries.page(queryScope(scope), limit, filter, after);
    return { feedback: page.feedback.map(feedback), next: page.next };
  }

  async feedback(sessionIds: readonly string[]): Promise<Feedback[]> {
    return (await this.#queries.feedback(sessionIds)).map(feedback);
  }

  async conversation(sessionId: string): Promise<Conversation | undefined> {
    const c = await this.#queries.conversation(sessionId);
    if (!c) return undefined;
    return create(ConversationSchema, {
      feedback: feedback(c.feedback),
      live: c.live,
      segments: c.segments.map((s) => ({
        sessionId,
        segmentId: s.segmentId,
        isFinal: true,
        speechFinal: s.speechFinal,
        text: s.text,
        words: s.words,
        startMs: s.startMs,
        endMs: s.endMs,
        stability: 1,
      })),
      aiTurns: c.questions.map((q) => ({ sessionId, turn: q.turn, text: q.text, aimedAt: q.aimedAt })),
      scoreTimeline: c.timeline.map((p, i) => ({
        atMs: BigInt(p.atMs),
        score: score(sessionId, p.score, !c.live && i === c.timeline.length - 1),
      })),
    });
  }

  async tiles(scope: HistoryScope, window: DayWindow): Promise<Tiles> {
    const t = await this.#queries.tiles(queryScope(scope), window);
    return create(TilesSchema, {
      todayCount: t.todayCount,
      todayScored: t.todayScored,
      todayAverageScore: t.todayAverageScore,
      baselineAverageScore: t.baselineAverageScore,
      baselineCount: t.baselineCount,
      shareAboveRewardThreshold: t.shareAboveRewardThreshold,
      rewardThreshold: t.rewardThreshold,
      paidTodayMinor: BigInt(t.paidTodayMinor),
      grantedTodayMinor: BigInt(t.grantedTodayMinor),
      currency: t.currency,
      fraudFlagsToday: t.fraudFlagsToday,
    });
  }

  async trends(scope: HistoryScope, range: TrendRange, window: DayWindow): Promise<Trends> {
    const t = await this.#queries.trends(queryScope(scope), SPAN[range] ?? "today", window);
    return create(TrendsSchema, {
      range: RANGE[t.span],
      buckets: t.buckets.map((b) => ({ startMs: BigInt(b.startMs), count: b.count, averageScore: b.averageScore })),
      topics: t.topics,
    });
  }

  close(): void {}
}
