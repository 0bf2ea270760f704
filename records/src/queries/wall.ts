// What the business wall and the admin monitor read from the records: the
// recent finished feedback, one conversation in full, today's tiles, trends
// over today / 7 / 30 days, the fraud rules that flagged a conversation, who
// receives a business's alerts and what businesses are called. The SQL lives
// here, beside the schema it reads; the node's wall adapts the results to its
// dashboard protocol.
//
// Tenancy: every query over many conversations takes the caller's scope (a
// business, or every business for admins; perhaps only some stores) and reads
// nothing outside it. A scope that names no valid business reads nothing.
import { type ViewerDay, viewerDayEdges, viewerDayStart, viewerHourEdges } from "@parley/proto/viewer-day";
import type { Sql } from "postgres";
import { UUID } from "../db/uuid.ts";

/** Below this final sentiment a conversation counts as negative about its topics. */
const NEGATIVE_SENTIMENT = -0.2;
/** Reward states in which money went to the customer's Stripe account. */
const PAID_STATES = ["transferred", "payout_pending", "paid", "payout_failed"];
/** Reward states that pay nothing (now or later). */
const UNPAID_STATES = ["none", "withheld", "reversed", "forfeited"];

export interface WallQueryScope {
  /** undefined: every business (admins). */
  businessId: string | undefined;
  /** undefined: every store of the business (or of every business). */
  storeCodes: readonly string[] | undefined;
}

export interface ScoreRecord {
  score: number;
  specificity: number;
  actionability: number;
  sentiment: number;
  relevance: number;
  topics: string[];
  hint: string;
  engine: string;
  throughSegmentId: number;
}

export interface RewardRecord {
  amountMinor: number;
  currency: string;
  /** none, withheld, claimable, onboarding, transfer_pending, transferred, payout_pending, paid, payout_failed, reversed. */
  status: string;
  /** tier, below_minimum_quality, budget_exhausted, flagged, no_consent, no_score. */
  reason: string;
}

/** A conversation as the wall lists it. */
export interface FeedbackRecord {
  sessionId: string;
  storeCode: string;
  businessId: string;
  language: string;
  startedAtMs: number;
  /** 0 while it goes on. */
  endedAtMs: number;
  /** The EndReason's name ("CUSTOMER", "MAX_TURNS", ...); "" while it goes on. */
  endReason: string;
  /** A lost conversation's (endReason NODE_LOST): the last score heard, which its reward was decided on. */
  finalScore: ScoreRecord | undefined;
  /** The final transcript segments, in order, joined. */
  transcript: string;
  summary: string;
  /** Undefined until the reward is decided (just after the end). */
  reward: RewardRecord | undefined;
  /** Rules of severity "fraud" that flagged it. */
  fraudFlags: string[];
  /** Quality rules (empty, off_topic) that withheld its reward: not fraud. */
  qualityFlags: string[];
}

export interface SegmentRecord {
  segmentId: number;
  text: string;
  words: { text: string; startMs: number; endMs: number }[];
  startMs: number;
  endMs: number;
  speechFinal: boolean;
}

export interface ConversationRecord {
  feedback: FeedbackRecord;
  live: boolean;
  segments: SegmentRecord[];
  questions: { turn: number; text: string; aimedAt: string; askedAtMs: number }[];
  /** The score as it moved, then the final score at the end (a lost conversation had none: see unendedSessions). */
  timeline: { atMs: number; score: ScoreRecord }[];
}

export interface TilesRecord {
  todayCount: number;
  /** Of todayCount, those with a final score: todayAverageScore and the share above are of these. */
  todayScored: number;
  todayAverageScore: number;
  baselineAverageScore: number;
  /** Scored conversations of the 7 days before today. */
  baselineCount: number;
  /** Of today's scored conversations, the share at or above their store's paying threshold. */
  shareAboveRewardThreshold: number;
  /** The lowest paying score among the stores in scope (the policies' first paying tier and minimum quality). */
  rewardThreshold: number;
  /** Rewards decided today that went to the customer's Stripe account. */
  paidTodayMinor: number;
  /** Rewards decided today that pay (paid, or held for the customer to claim). */
  grantedTodayMinor: number;
  /** The business's currency; SEK across businesses (only SEK rewards are summed then). */
  currency: string;
  /** Conversations flagged by a fraud rule today. */
  fraudFlagsToday: number;
}

export type TrendSpan = "today" | "days7" | "days30";

export interface TrendsRecord {
  span: TrendSpan;
  buckets: { startMs: number; count: number; averageScore: number }[];
  /** Most mentioned first. */
  topics: { topic: string; count: number; averageSentiment: number; negative: number }[];
}

const validScope = (scope: WallQueryScope) =>
  (scope.businessId === undefined || UUID.test(scope.businessId)) &&
  (scope.storeCodes === undefined || scope.storeCodes.length > 0);

/** The SQL condition of a scope, on `sessions s` joined with `stores st`. */
function inScope(sql: Sql, scope: WallQueryScope) {
  const business = scope.businessId === undefined ? sql`true` : sql`s.business_id = ${scope.businessId}`;
  const stores = scope.storeCodes === undefined ? sql`true` : sql`st.code = any(${[...scope.storeCodes]}::text[])`;
  return sql`${business} and ${stores}`;
}

interface FeedbackRow {
  id: string;
  store_code: string;
  business_id: string;
  language: string | null;
  started_at: Date | null;
  ended_at: Date | null;
  end_reason: string | null;
  score: number | null;
  specificity: number | null;
  actionability: number | null;
  sentiment: number | null;
  relevance: number | null;
  topics: string[] | null;
  summary: string | null;
  engine: string | null;
  amount_minor: number | null;
  currency: string | null;
  reward_status: string | null;
  reward_reason: string | null;
  transcript: string | null;
  fraud_flags: string[] | null;
  quality_flags: string[] | null;
}

/** The columns of a FeedbackRecord, over `sessions s` joined with `stores st`. */
function feedbackColumns(sql: Sql) {
  return sql`
    s.id, st.code as store_code, s.business_id, s.language, s.started_at, s.ended_at, s.end_reason,
    f.score, f.specificity, f.actionability, f.sentiment, f.relevance, f.topics, f.summary, f.engine,
    r.amount_minor, r.currency, r.status as reward_status, r.reason as reward_reason,
    (select string_agg(t.text, ' ' order by t.start_ms, t.segment_id)
       from transcript_segments t where t.session_id = s.id) as transcript,
    (select array_agg(ff.rule order by ff.rule)
       from fraud_flags ff where ff.session_id = s.id and ff.severity = 'fraud') as fraud_flags,
    (select array_agg(ff.rule order by ff.rule)
       from fraud_flags ff where ff.session_id = s.id and ff.severity = 'quality') as quality_flags`;
}

function feedbackOf(row: FeedbackRow): FeedbackRecord {
  return {
    sessionId: row.id,
    storeCode: row.store_code,
    businessId: row.business_id,
    language: row.language ?? "",
    startedAtMs: row.started_at?.getTime() ?? 0,
    endedAtMs: row.ended_at?.getTime() ?? 0,
    endReason: row.end_reason ?? "",
    finalScore:
      row.score === null
        ? undefined
        : {
            score: row.score,
            specificity: row.specificity ?? 0,
            actionability: row.actionability ?? 0,
            sentiment: row.sentiment ?? 0,
            relevance: row.relevance ?? 0,
            topics: row.topics ?? [],
            hint: "",
            engine: row.engine ?? "",
            throughSegmentId: 0,
          },
    transcript: row.transcript ?? "",
    summary: row.summary ?? "",
    reward:
      row.reward_status === null
        ? undefined
        : {
            amountMinor: row.amount_minor ?? 0,
            currency: row.currency ?? "",
            status: row.reward_status,
            reason: row.reward_reason ?? "",
          },
    fraudFlags: row.fraud_flags ?? [],
    qualityFlags: row.quality_flags ?? [],
  };
}

// Finished: ended, and it did begin (a session created but never joined has nothing to show);
// a customer who deleted their data is gone from the wall too.
const FINISHED = (sql: Sql) =>
  sql`s.status = 'ended' and s.started_at is not null and s.deleted_by_customer_at is null`;

/**
 * The wall's filters over finished conversations (each absent: no filter),
 * as its ticker applies them to the cards it holds: the bands are of the
 * final score and sentiment.
 */
export interface FeedbackFilter {
  /** Started at or after. */
  startedSinceMs?: number;
  /** Final score below 40, 40 to 69, 70 and above. */
  score?: "low" | "mid" | "high";
  /** One of the final score's topics. */
  topic?: string;
  /** Final sentiment below -0.2, -0.2 to 0.2, above 0.2. */
  sentiment?: "negative" | "neutral" | "positive";
  /** Flagged by a rule of severity "fraud", or not. */
  status?: "ended" | "flagged";
  /** The conversation's language starts with it ("sv" for sv-SE). */
  language?: string;
}

/** Below this final sentiment a conversation is negative; above its opposite, positive (the wall's bands). */
const SENTIMENT_BAND = 0.2;

/** The SQL condition of a filter, on `sessions s` left joined with `final_scores f`. */
function filtered(sql: Sql, filter: FeedbackFilter) {
  const conditions = [sql`true`];
  if (filter.startedSinceMs) conditions.push(sql`s.started_at >= ${new Date(filter.startedSinceMs)}`);
  if (filter.score === "low") conditions.push(sql`f.score < 40`);
  if (filter.score === "mid") conditions.push(sql`f.score >= 40 and f.score < 70`);
  if (filter.score === "high") conditions.push(sql`f.score >= 70`);
  if (filter.topic) conditions.push(sql`${filter.topic} = any(f.topics)`);
  if (filter.sentiment === "negative") conditions.push(sql`f.sentiment < ${-SENTIMENT_BAND}`);
  if (filter.sentiment === "neutral")
    conditions.push(sql`f.sentiment >= ${-SENTIMENT_BAND} and f.sentiment <= ${SENTIMENT_BAND}`);
  if (filter.sentiment === "positive") conditions.push(sql`f.sentiment > ${SENTIMENT_BAND}`);
  if (filter.status) {
    const flagged = sql`exists (select 1 from fraud_flags ff where ff.session_id = s.id and ff.severity = 'fraud')`;
    conditions.push(filter.status === "flagged" ? flagged : sql`not ${flagged}`);
  }
  if (filter.language) conditions.push(sql`starts_with(coalesce(s.language, ''), ${filter.language})`);
  return conditions.reduce((all, c) => sql`${all} and ${c}`);
}

/**
 * Where a page of the wall's history ended: its last conversation's end, to
 * the microsecond as Postgres keeps it (conversations ending within one
 * millisecond are common, and a key rounded to it would read some twice or
 * never), and its id (ties on the end). A position only: never a scope.
 */
export interface FeedbackPosition {
  endedAtUs: bigint;
  sessionId: string;
}

/** One page of finished conversations, newest first, and where the next begins (none: this was the last). */
export interface FeedbackPage {
  feedback: FeedbackRecord[];
  next: FeedbackPosition | undefined;
}

/** Microseconds since 1970 to the end of the year 9999: no conversation ends later (nor fails to fit an int8). */
const MAX_POSITION_US = 253_402_300_799_999_999n;

/** A position a page of ours could have given: a conversation's id and an end within Postgres' range. */
export function isFeedbackPosition(p: FeedbackPosition): boolean {
  return UUID.test(p.sessionId) && p.endedAtUs >= 0n && p.endedAtUs <= MAX_POSITION_US;
}

/**
 * Finished conversations in scope (matching the filter, if one is given),
 * newest first (ended_at descending, then id): the latest `limit`, or those
 * after `after` (a page's `next`). Keyset, not an offset: conversations that
 * end meanwhile are newer than any page already read, so the next page
 * neither repeats nor skips one. The scope is the caller's alone: `after` only
 * says where to go on within it.
 */
export async function feedbackPage(
  sql: Sql,
  scope: WallQueryScope,
  limit: number,
  filter: FeedbackFilter = {},
  after?: FeedbackPosition,
): Promise<FeedbackPage> {
  if (after && !isFeedbackPosition(after)) throw new RangeError("not a position of the wall's history");
  if (!validScope(scope) || limit <= 0) return { feedback: [], next: undefined };
  // The position's end back as a timestamptz, exactly (no float seconds on the way).
  const end = after
    ? sql`(timestamptz 'epoch' + ${after.endedAtUs.toString()}::int8 * interval '1 microsecond')`
    : sql``;
  const rows = await sql<(FeedbackRow & { page_key: string })[]>`
    select ${feedbackColumns(sql)},
      (extract(epoch from s.ended_at) * 1000000)::int8::text as page_key
    from sessions s
    join stores st on st.id = s.store_id
    left join final_scores f on f.session_id = s.id
    left join rewards r on r.session_id = s.id
    where ${FINISHED(sql)} and s.ended_at is not null and ${inScope(sql, scope)} and ${filtered(sql, filter)}
      and ${after ? sql`s.ended_at <= ${end} and (s.ended_at < ${end} or s.id > ${after.sessionId}::uuid)` : sql`true`}
    order by s.ended_at desc, s.id
    limit ${limit + 1}`;
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  return {
    feedback: page.map(feedbackOf),
    next: rows.length > limit && last ? { endedAtUs: BigInt(last.page_key), sessionId: last.id } : undefined,
  };
}

/** These conversations (finished or not), in the order asked; unknown ids are left out. The caller checks scope. */
export async function feedbackByIds(sql: Sql, sessionIds: readonly string[]): Promise<FeedbackRecord[]> {
  const ids = sessionIds.filter((id) => UUID.test(id));
  if (ids.length === 0) return [];
  const rows = await sql<FeedbackRow[]>`
    select ${feedbackColumns(sql)}
    from sessions s
    join stores st on st.id = s.store_id
    left join final_scores f on f.session_id = s.id
    left join rewards r on r.session_id = s.id
    where s.id = any(${ids}::uuid[]) and s.deleted_by_customer_at is null`;
  const byId = new Map(rows.map((r) => [r.id, feedbackOf(r)]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/**
 * One conversation in full, finished or still going on, with its business
 * and store in `feedback` (the caller checks them against its scope);
 * undefined when there is none.
 */
export async function conversationRecord(sql: Sql, sessionId: string): Promise<ConversationRecord | undefined> {
  const [feedback] = await feedbackByIds(sql, [sessionId]);
  if (!feedback) return undefined;
  const [segments, questions, scores] = await Promise.all([
    sql<
      {
        segment_id: number;
        text: string;
        words: { text: string; startMs: number; endMs: number }[];
        start_ms: number;
        end_ms: number;
        speech_final: boolean;
      }[]
    >`
      select segment_id, text, words, start_ms, end_ms, speech_final from transcript_segments
      where session_id = ${sessionId} order by start_ms, segment_id`,
    sql<{ turn: number; text: string; aimed_at: string; asked_at: Date }[]>`
      select turn, text, aimed_at, asked_at from ai_questions where session_id = ${sessionId} order by turn`,
    sql<
      {
        scored_at: Date;
        score: number;
        specificity: number;
        actionability: number;
        sentiment: number;
        relevance: number;
        topics: string[];
        hint: string;
        engine: string;
        through_segment_id: number;
      }[]
    >`
      select scored_at, score, specificity, actionability, sentiment, relevance, topics, hint, engine, through_segment_id
      from score_updates where session_id = ${sessionId} order by seq`,
  ]);
  const timeline = scores.map((s) => ({
    atMs: s.scored_at.getTime(),
    score: {
      score: s.score,
      specificity: s.specificity,
      actionability: s.actionability,
      sentiment: s.sentiment,
      relevance: s.relevance,
      topics: s.topics,
      hint: s.hint,
      engine: s.engine,
      throughSegmentId: s.through_segment_id,
    },
  }));
  // A lost conversation's (NODE_LOST) final score is its last update, already the timeline's last point.
  if (feedback.finalScore && feedback.endedAtMs && feedback.endReason !== "NODE_LOST")
    timeline.push({ atMs: feedback.endedAtMs, score: feedback.finalScore });
  return {
    feedback,
    live: feedback.endedAtMs === 0,
    segments: segments.map((s) => ({
      segmentId: s.segment_id,
      text: s.text,
      words: s.words,
      startMs: s.start_ms,
      endMs: s.end_ms,
      speechFinal: s.speech_final,
    })),
    questions: questions.map((q) => ({
      turn: q.turn,
      text: q.text,
      aimedAt: q.aimed_at,
      askedAtMs: q.asked_at.getTime(),
    })),
    timeline,
  };
}

/**
 * The score from which a store's policy pays: its minimum quality, or its
 * first tier that pays anything if that is higher (101: it never pays).
 */
function payingThreshold(sql: Sql) {
  return sql`greatest(
    coalesce((st.reward_policy->>'minQuality')::int, 0),
    coalesce((select min((t->>'minScore')::int) from jsonb_array_elements(st.reward_policy->'tiers') t
              where (t->>'amountMinor')::bigint > 0), 101))`;
}

/** Today's figures in scope (the viewer's today) against the 7 days before. */
export async function wallTiles(sql: Sql, scope: WallQueryScope, day: ViewerDay): Promise<TilesRecord> {
  const empty: TilesRecord = {
    todayCount: 0,
    todayScored: 0,
    todayAverageScore: 0,
    baselineAverageScore: 0,
    baselineCount: 0,
    shareAboveRewardThreshold: 0,
    rewardThreshold: 40,
    paidTodayMinor: 0,
    grantedTodayMinor: 0,
    currency: "SEK",
    fraudFlagsToday: 0,
  };
  if (!validScope(scope)) return empty;
  const today = new Date(viewerDayStart(day));
  const baselineFrom = new Date(viewerDayStart(day, 7));
  const [conversations, threshold, money, flags] = await Promise.all([
    sql<
      {
        today_count: number;
        today_scored: number;
        today_average: number | null;
        today_above: number;
        baseline_count: number;
        baseline_average: number | null;
      }[]
    >`
      select
        count(*) filter (where s.ended_at >= ${today}) as today_count,
        count(f.score) filter (where s.ended_at >= ${today}) as today_scored,
        (avg(f.score) filter (where s.ended_at >= ${today}))::float8 as today_average,
        count(*) filter (where s.ended_at >= ${today} and f.score >= ${payingThreshold(sql)}) as today_above,
        count(f.score) filter (where s.ended_at < ${today}) as baseline_count,
        (avg(f.score) filter (where s.ended_at < ${today}))::float8 as baseline_average
      from sessions s
      join stores st on st.id = s.store_id
      left join final_scores f on f.session_id = s.id
      where ${FINISHED(sql)} and s.ended_at >= ${baselineFrom} and ${inScope(sql, scope)}`,
    sql<{ threshold: number | null }[]>`
      select min(${payingThreshold(sql)}) as threshold
      from stores st
      where ${scope.businessId === undefined ? sql`true` : sql`st.business_id = ${scope.businessId}`}
        and ${scope.storeCodes === undefined ? sql`true` : sql`st.code = any(${[...scope.storeCodes]}::text[])`}`,
    // Money in the business's own currency; across businesses only SEK (the market) is summed.
    sql<{ currency: string; paid: number; granted: number }[]>`
      select c.currency,
             coalesce(sum(r.amount_minor) filter (where r.status = any(${PAID_STATES}::text[])), 0)::bigint as paid,
             coalesce(sum(r.amount_minor) filter (where r.status <> all(${UNPAID_STATES}::text[])), 0)::bigint as granted
      from (select ${
        scope.businessId === undefined
          ? sql`'SEK'::text`
          : sql`(select currency from businesses where id = ${scope.businessId})`
      } as currency) c
      left join (rewards r join stores st on st.id = r.store_id join sessions s on s.id = r.session_id)
        on r.currency = c.currency and r.created_at >= ${today} and ${inScope(sql, scope)}
      group by c.currency`,
    sql<{ flagged: number }[]>`
      select count(distinct ff.session_id) as flagged
      from fraud_flags ff
      join sessions s on s.id = ff.session_id
      join stores st on st.id = s.store_id
      where ff.severity = 'fraud' and ff.created_at >= ${today} and ${inScope(sql, scope)}`,
  ]);
  const c = conversations[0]!;
  const m = money[0];
  return {
    todayCount: c.today_count,
    todayScored: c.today_scored,
    todayAverageScore: c.today_average ?? 0,
    baselineAverageScore: c.baseline_average ?? 0,
    baselineCount: c.baseline_count,
    shareAboveRewardThreshold: c.today_scored ? c.today_above / c.today_scored : 0,
    rewardThreshold: Math.min(100, threshold[0]?.threshold ?? 40),
    paidTodayMinor: m?.paid ?? 0,
    grantedTodayMinor: m?.granted ?? 0,
    currency: m?.currency ?? "SEK",
    fraudFlagsToday: flags[0]?.flagged ?? 0,
  };
}

/**
 * Score and volume over today (hourly), the last 7 or 30 days (daily, today
 * included) in the viewer's days, and the topics of those conversations with
 * their average sentiment.
 */
export async function wallTrends(
  sql: Sql,
  scope: WallQueryScope,
  span: TrendSpan,
  day: ViewerDay,
): Promise<TrendsRecord> {
  // Bucket edges, not a width: in the viewer's zone a day (and so today's hours) may be 23 or 25 hours.
  const edges = span === "today" ? viewerHourEdges(day) : viewerDayEdges(day, span === "days30" ? 30 : 7);
  const starts = edges.slice(0, -1);
  const buckets = starts.map((startMs) => ({ startMs, count: 0, averageScore: 0 }));
  if (!validScope(scope)) return { span, buckets, topics: [] };
  const from = new Date(edges[0]!);
  const to = new Date(edges.at(-1)!);
  const [volume, topics] = await Promise.all([
    sql<{ bucket: number; n: number; average: number | null }[]>`
      select width_bucket(extract(epoch from s.ended_at) * 1000, ${starts}::float8[]) - 1 as bucket,
             count(*) as n, (avg(f.score))::float8 as average
      from sessions s
      join stores st on st.id = s.store_id
      left join final_scores f on f.session_id = s.id
      where ${FINISHED(sql)} and s.ended_at >= ${from} and s.ended_at < ${to} and ${inScope(sql, scope)}
      group by 1`,
    sql<{ topic: string; n: number; sentiment: number; negative: number }[]>`
      select t.topic, count(*) as n, (avg(f.sentiment))::float8 as sentiment,
             count(*) filter (where f.sentiment < ${NEGATIVE_SENTIMENT}) as negative
      from sessions s
      join stores st on st.id = s.store_id
      join final_scores f on f.session_id = s.id
      cross join lateral unnest(f.topics) as t(topic)
      where ${FINISHED(sql)} and s.ended_at >= ${from} and s.ended_at < ${to} and ${inScope(sql, scope)}
      group by t.topic
      order by n desc, t.topic
      limit 50`,
  ]);
  for (const row of volume) {
    const bucket = buckets[row.bucket];
    if (!bucket) continue;
    bucket.count = row.n;
    bucket.averageScore = row.average ?? 0;
  }
  return {
    span,
    buckets,
    topics: topics.map((t) => ({
      topic: t.topic,
      count: t.n,
      averageSentiment: t.sentiment,
      negative: t.negative,
    })),
  };
}

/** The rules that flagged a conversation, with their severity. */
export async function fraudFlagsOf(
  sql: Sql,
  sessionId: string,
): Promise<{ rule: string; severity: "fraud" | "quality" }[]> {
  if (!UUID.test(sessionId)) return [];
  return sql<{ rule: string; severity: "fraud" | "quality" }[]>`
    select rule, severity from fraud_flags where session_id = ${sessionId} order by rule`;
}

/** The e-mail addresses of a business's owners (who receive its alerts). */
export async function ownerEmails(sql: Sql, businessId: string): Promise<string[]> {
  if (!UUID.test(businessId)) return [];
  const rows = await sql<{ email: string }[]>`
    select email from users where business_id = ${businessId} and role = 'owner' order by email`;
  return rows.map((r) => r.email);
}

/** Whether a business of this id exists (a malformed id: no). */
export async function businessExists(sql: Sql, businessId: string): Promise<boolean> {
  if (!UUID.test(businessId)) return false;
  const rows = await sql<{ id: string }[]>`select id from businesses where id = ${businessId}`;
  return rows.length > 0;
}

/** Business names by id (unknown or malformed ids are left out). */
export async function businessNames(sql: Sql, businessIds: readonly string[]): Promise<Map<string, string>> {
  const ids = [...new Set(businessIds)].filter((id) => UUID.test(id));
  if (ids.length === 0) return new Map();
  const rows = await sql<{ id: string; name: string }[]>`
    select id, name from businesses where id = any(${ids}::uuid[])`;
  return new Map(rows.map((r) => [r.id, r.name]));
}

/** The wall's queries, bound to one database. */
export function wallQueries(sql: Sql) {
  return {
    page: (scope: WallQueryScope, limit: number, filter?: FeedbackFilter, after?: FeedbackPosition) =>
      feedbackPage(sql, scope, limit, filter, after),
    feedback: (sessionIds: readonly string[]) => feedbackByIds(sql, sessionIds),
    conversation: (sessionId: string) => conversationRecord(sql, sessionId),
    tiles: (scope: WallQueryScope, day: ViewerDay) => wallTiles(sql, scope, day),
    trends: (scope: WallQueryScope, span: TrendSpan, day: ViewerDay) => wallTrends(sql, scope, span, day),
    fraudFlags: (sessionId: string) => fraudFlagsOf(sql, sessionId),
    ownerEmails: (businessId: string) => ownerEmails(sql, businessId),
    businessNames: (businessIds: readonly string[]) => businessNames(sql, businessIds),
    businessExists: (businessId: string) => businessExists(sql, businessId),
  };
}

export type WallQueries = ReturnType<typeof wallQueries>;
