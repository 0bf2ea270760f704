// What a customer's session holds, as the customer's own data routes and a business's drill-down
// read it: the transcript, the scores, the AI's questions, the reward and fraud flags.

import type { Sql } from "postgres";

export interface CustomerReward {
  id: string;
  amountMinor: number;
  currency: string;
  status: string;
  reason: string;
  /**
   * Its last payout did not reach the customer's bank (payout.failed, or Stripe refused it): the
   * money waits on their Stripe account until they give their bank details again, which a claim
   * sends them to do (`account_update`). Stripe's failure code is not told.
   */
  payoutFailed: boolean;
}

/** The columns of `rewards` that a customer's reward is told from (rewardJson). */
export const REWARD_COLUMNS = ["id", "amount_minor", "currency", "status", "reason", "payout_attempt"] as const;

/** A `rewards` row as customerReward and sessionData read it. */
export type RewardRow = Record<(typeof REWARD_COLUMNS)[number], unknown>;

export const rewardJson = (r: RewardRow): CustomerReward => ({
  id: r.id as string,
  amountMinor: r.amount_minor as number,
  currency: r.currency as string,
  status: r.status as string,
  reason: r.reason as string,
  // As StripePayouts.pay tells a payout that waits on the bank details: back in `transferred`
  // after a payout failed or was refused (its key moved on).
  payoutFailed: r.status === "transferred" && (r.payout_attempt as number) > 0,
});

export interface SessionData {
  sessionId: string;
  businessId: string;
  store: { code: string; name: string };
  createdAt: Date;
  consentGivenAt: Date | null;
  consentVersion: string | null;
  startedAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
  transcript: { segmentId: number; text: string; startMs: number; endMs: number; words: unknown }[];
  scores: { seq: number; score: number; at: Date }[];
  finalScore: Record<string, unknown> | null;
  questions: { turn: number; text: string }[];
  reward: CustomerReward | null;
  flags: { rule: string; severity: string }[];
  redactedAt: Date | null;
}

export async function sessionData(sql: Sql, sessionId: string): Promise<SessionData | undefined> {
  const [s] = await sql`
    select s.*, st.code as store_code, st.name as store_name from sessions s join stores st on st.id = s.store_id
    where s.id = ${sessionId}`;
  if (!s) return undefined;
  // Deleted by its customer or past retention: what a node's queue wrote after that (it held the
  // conversation through a database outage) is not shown; the retention job's next run removes it.
  const content = s.deleted_by_customer_at === null && s.redacted_at === null;
  const none = Promise.resolve([]);
  const [segments, scores, finals, questions, rewards, flags] = await Promise.all([
    content
      ? sql`select segment_id, text, start_ms, end_ms, words from transcript_segments where session_id = ${sessionId} order by start_ms, segment_id`
      : none,
    content ? sql`select seq, score, scored_at from score_updates where session_id = ${sessionId} order by seq` : none,
    content
      ? sql`select score, specificity, actionability, sentiment, relevance, topics, summary, engine from final_scores where session_id = ${sessionId}`
      : none,
    content ? sql`select turn, text from ai_questions where session_id = ${sessionId} order by turn` : none,
    sql<RewardRow[]>`select ${sql(REWARD_COLUMNS)} from rewards where session_id = ${sessionId}`,
    sql`select rule, severity from fraud_flags where session_id = ${sessionId} order by rule`,
  ]);
  const reward = rewards[0];
  return {
    sessionId,
    businessId: s.business_id,
    store: { code: s.store_code, name: s.store_name },
    createdAt: s.created_at,
    consentGivenAt: s.consent_given_at,
    consentVersion: s.consent_version,
    startedAt: s.started_at,
    endedAt: s.ended_at,
    endReason: s.end_reason,
    transcript: segments.map((t) => ({
      segmentId: t.segment_id,
      text: t.text,
      startMs: t.start_ms,
      endMs: t.end_ms,
      words: t.words,
    })),
    scores: scores.map((x) => ({ seq: x.seq, score: x.score, at: x.scored_at })),
    finalScore: finals[0] ?? null,
    questions: questions.map((q) => ({ turn: q.turn, text: q.text })),
    reward: reward ? rewardJson(reward) : null,
    flags: flags.map((f) => ({ rule: f.rule, severity: f.severity })),
    redactedAt: s.redacted_at,
  };
}
