// The embedded history: a subscriber of the live-event bus that keeps every
// conversation this node heard of (its own, and other nodes' through Redis)
// for as long as the process lives, bounded in count and age. It is honest
// about what it is: history_source "memory" in every snapshot; a restart
// forgets everything; rewards are what ConversationEnded carried (0 until
// the records package decides them) and fraud flags come only from records.
// The records package replaces it (see README, "Binding the wall to records").
import { create } from "@bufbuild/protobuf";
import type { AiTurn, FeedbackScore, LiveEnvelope, TranscriptSegment } from "@parley/proto/live";
import {
  type Conversation,
  ConversationSchema,
  type Feedback,
  FeedbackSchema,
  type ScorePoint,
  ScorePointSchema,
  type Tiles,
  TilesSchema,
  TrendRange,
  type Trends,
  TrendsSchema,
} from "@parley/proto/wall";
import { type LiveBus, liveTopic, type Unsubscribe } from "../../live/LiveBus.ts";
import {
  DAY_MS,
  type DayWindow,
  dayStart,
  type HistoryScope,
  inHistoryScope,
  type WallHistory,
} from "./WallHistory.ts";

export interface MemoryWallHistoryOptions {
  bus: LiveBus;
  /** Conversations kept at most (oldest forgotten first). */
  maxConversations?: number;
  /** Conversations older than this are forgotten (trends reach back 30 days). */
  maxAgeMs?: number;
  /** "Share above the reward threshold": records' default policy pays from 40. */
  rewardThreshold?: number;
  /** Score points kept per conversation for the drill-down chart. */
  maxScorePoints?: number;
}

/** One conversation as it is being recorded. */
class Recording {
  readonly feedback: Feedback;
  readonly finals = new Map<number, TranscriptSegment>();
  readonly aiTurns: AiTurn[] = [];
  readonly timeline: ScorePoint[] = [];
  ended = false;
  lastEventAtMs = Date.now();

  constructor(envelope: LiveEnvelope) {
    this.feedback = create(FeedbackSchema, {
      sessionId: envelope.sessionId,
      storeCode: envelope.storeCode,
      businessId: envelope.businessId,
      startedAtMs: envelope.publishedAtMs,
    });
  }

  transcript(): string {
    return this.segments()
      .map((s) => s.text)
      .join(" ");
  }

  segments(): TranscriptSegment[] {
    return [...this.finals.values()].sort((a, b) => a.startMs - b.startMs || a.segmentId - b.segmentId);
  }
}

export class MemoryWallHistory implements WallHistory {
  readonly source = "memory";
  readonly #recordings = new Map<string, Recording>();
  /** Finished ones, oldest first (Map keeps insertion order). */
  readonly #finished = new Map<string, Recording>();
  readonly #unsubscribe: Unsubscribe;
  readonly #maxConversations: number;
  readonly #maxAgeMs: number;
  readonly #rewardThreshold: number;
  readonly #maxScorePoints: number;
  readonly #sweeper: NodeJS.Timeout;

  constructor(options: MemoryWallHistoryOptions) {
    this.#maxConversations = options.maxConversations ?? 50_000;
    this.#maxAgeMs = options.maxAgeMs ?? 31 * DAY_MS;
    this.#rewardThreshold = options.rewardThreshold ?? 40;
    this.#maxScorePoints = options.maxScorePoints ?? 600;
    this.#unsubscribe = options.bus.subscribe(liveTopic.admin, ({ envelope }) => this.#record(envelope));
    // A conversation whose node died never ends: forget it after an hour of silence.
    this.#sweeper = setInterval(() => {
      for (const [id, r] of this.#recordings) if (Date.now() - r.lastEventAtMs > 3_600_000) this.#recordings.delete(id);
    }, 600_000).unref();
  }

  async recent(scope: HistoryScope, limit: number): Promise<Feedback[]> {
    const out: Feedback[] = [];
    const finished = [...this.#finished.values()];
    for (let i = finished.length - 1; i >= 0 && out.length < limit; i--) {
      const f = finished[i]!.feedback;
      if (inHistoryScope(scope, f.businessId, f.storeCode)) out.push(f);
    }
    return out;
  }

  async conversation(sessionId: string): Promise<Conversation | undefined> {
    const r = this.#recordings.get(sessionId) ?? this.#finished.get(sessionId);
    if (!r) return undefined;
    const feedback = r.ended ? r.feedback : create(FeedbackSchema, { ...r.feedback, transcript: r.transcript() });
    return create(ConversationSchema, {
      feedback,
      live: !r.ended,
      segments: r.segments(),
      aiTurns: r.aiTurns,
      scoreTimeline: r.timeline,
    });
  }

  async tiles(scope: HistoryScope, window: DayWindow): Promise<Tiles> {
    const today = dayStart(window);
    const baselineFrom = dayStart(window, 7);
    let todayCount = 0;
    let todayScored = 0;
    let todaySum = 0;
    let above = 0;
    let paid = 0;
    let flags = 0;
    let baselineCount = 0;
    let baselineSum = 0;
    let currency = "";
    for (const { feedback: f } of this.#finished.values()) {
      if (!inHistoryScope(scope, f.businessId, f.storeCode)) continue;
      const ended = Number(f.endedAtMs);
      const score = f.finalScore?.score;
      if (ended >= today) {
        todayCount++;
        paid += f.rewardMinor;
        if (f.fraudFlags.length > 0) flags++;
        currency ||= f.currency;
        if (score !== undefined) {
          todayScored++;
          todaySum += score;
          if (score >= this.#rewardThreshold) above++;
        }
      } else if (ended >= baselineFrom && score !== undefined) {
        baselineCount++;
        baselineSum += score;
      }
    }
    return create(TilesSchema, {
      todayCount,
      todayAverageScore: todayScored ? todaySum / todayScored : 0,
      baselineAverageScore: baselineCount ? baselineSum / baselineCount : 0,
      baselineCount,
      shareAboveRewardThreshold: todayScored ? above / todayScored : 0,
      rewardThreshold: this.#rewardThreshold,
      paidTodayMinor: BigInt(paid),
      currency: currency || "SEK",
      fraudFlagsToday: flags,
    });
  }

  async trends(scope: HistoryScope, range: TrendRange, window: DayWindow): Promise<Trends> {
    const hourly = range === TrendRange.TODAY || range === TrendRange.UNSPECIFIED;
    const days = range === TrendRange.DAYS_30 ? 30 : 7;
    const from = hourly ? dayStart(window) : dayStart(window, days - 1);
    const width = hourly ? 3_600_000 : DAY_MS;
    const count = hourly ? 24 : days;
    const buckets = Array.from({ length: count }, (_, i) => ({ startMs: from + i * width, n: 0, scored: 0, sum: 0 }));
    const topics = new Map<string, { count: number; sentiment: number; negative: number }>();
    for (const { feedback: f } of this.#finished.values()) {
      const ended = Number(f.endedAtMs);
      if (ended < from || !inHistoryScope(scope, f.businessId, f.storeCode)) continue;
      const bucket = buckets[Math.floor((ended - from) / width)];
      if (!bucket) continue; // later than the range (a clock ahead)
      bucket.n++;
      const score = f.finalScore;
      if (!score) continue;
      bucket.scored++;
      bucket.sum += score.score;
      for (const topic of score.topics) {
        const t = topics.get(topic) ?? { count: 0, sentiment: 0, negative: 0 };
        t.count++;
        t.sentiment += score.sentiment;
        if (score.sentiment < -0.2) t.negative++;
        topics.set(topic, t);
      }
    }
    return create(TrendsSchema, {
      range: hourly ? TrendRange.TODAY : range,
      buckets: buckets.map((b) => ({
        startMs: BigInt(b.startMs),
        count: b.n,
        averageScore: b.scored ? b.sum / b.scored : 0,
      })),
      topics: [...topics.entries()]
        .sort((a, b) => b[1].count - a[1].count)
        .map(([topic, t]) => ({
          topic,
          count: t.count,
          averageSentiment: t.sentiment / t.count,
          negative: t.negative,
        })),
    });
  }

  close(): void {
    this.#unsubscribe();
    clearInterval(this.#sweeper);
  }

  #record(envelope: LiveEnvelope): void {
    const kind = envelope.event?.kind;
    if (!kind?.case) return;
    if (this.#finished.has(envelope.sessionId)) return; // events after the end (none today) change nothing
    let r = this.#recordings.get(envelope.sessionId);
    if (!r) this.#recordings.set(envelope.sessionId, (r = new Recording(envelope)));
    r.lastEventAtMs = Date.now();
    const at = envelope.publishedAtMs;
    switch (kind.case) {
      case "sessionStarted":
        r.feedback.startedAtMs = kind.value.startedAtMs || at;
        r.feedback.language = kind.value.language;
        break;
      case "transcript":
        if (kind.value.isFinal) r.finals.set(kind.value.segmentId, kind.value);
        break;
      case "score":
        this.#addPoint(r, at, kind.value);
        break;
      case "aiTurn":
        r.aiTurns.push(kind.value);
        break;
      case "conversationEnded": {
        const end = kind.value;
        if (end.finalScore) this.#addPoint(r, at, end.finalScore);
        Object.assign(r.feedback, {
          endedAtMs: at,
          finalScore: end.finalScore ?? r.timeline.at(-1)?.score,
          transcript: r.transcript(),
          summary: end.summary,
          reason: end.reason,
          rewardMinor: end.rewardMinor,
          currency: end.currency,
        });
        r.ended = true;
        this.#recordings.delete(envelope.sessionId);
        this.#finished.set(envelope.sessionId, r);
        this.#trim(Number(at));
        break;
      }
      default:
        break;
    }
  }

  #addPoint(r: Recording, at: bigint, score: FeedbackScore): void {
    r.timeline.push(create(ScorePointSchema, { atMs: at, score }));
    // A long conversation keeps its first points and a sliding window of the latest.
    if (r.timeline.length > this.#maxScorePoints) r.timeline.splice(this.#maxScorePoints / 2, 1);
  }

  #trim(nowMs: number): void {
    for (const [id, r] of this.#finished) {
      if (this.#finished.size <= this.#maxConversations && nowMs - Number(r.feedback.endedAtMs) <= this.#maxAgeMs)
        break;
      this.#finished.delete(id);
    }
  }
}
