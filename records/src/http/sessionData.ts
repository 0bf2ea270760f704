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
   * Its last payout came back failed (payout.failed: the bank refused it, or it was canceled): the
   * money waits on the customer's Stripe account until they give their bank details again, which a
   * claim sends them to do (`account_update`). Stripe's failure code is not told. A payout Stripe
   * refused to create (the platform's balance, say) is not this: no bank details would fix it.
   */
  payoutFailed: boolean;
}

/** A `rewards` row as a customer's reward is told from (rewardJson); payout_failed only where selected. */
export interface RewardRow {
  id: unknown;
  amount_minor: unknown;
  currency: unknown;
  status: unknown;
  reason: unknown;
  payout_failed?: boolean;
}

/** The session's reward as its customer is told it (undefined: none decided yet). */
export async function customerRewardRow(sql: Sql, sessionId: string): Promise<RewardRow | undefined> {
  // rewards.payout_id stays on the failed payout when payout.failed moves its reward back.
  const [row] = await sql<RewardRow[]>`
    select r.id, r.amount_minor, r.currency, r.status, r.reason,
      coalesce(r.status = 'transferred' and p.status in ('failed', 'canceled'), false) as payout_failed
    from rewards r left join payouts p on p.id = r.payout_id
    where r.session_id = ${sessionId}`;
  return row;
}

export const rewardJson = (r: RewardRow): CustomerReward => ({
  id: r.id as string,
  amountMinor: r.amount_minor as number,
  currency: r.currency as string,
  status: r.status as string,
  reason: r.reason as string,
  payoutFailed: r.payout_failed === true,
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
  const [segments, scores, finals, questions, reward, flags] = await Promise.all([
    content
      ? sql`select segment_id, text, start_ms, end_ms, words from transcript_segments where session_id = ${sessionId} order by start_ms, segment_id`
      : none,
    content ? sql`select seq, score, scored_at from score_updates where session_id = ${sessionId} order by seq` : none,
    content
      ? sql`select score, specificity, actionability, sentiment, relevance, topics, summary, engine from final_scores where session_id = ${sessionId}`
      : none,
    content ? sql`select turn, text from ai_questions where session_id = ${sessionId} order by turn` : none,
    customerRewardRow(sql, sessionId),
    sql`select rule, severity from fraud_flags where session_id = ${sessionId} order by rule`,
  ]);
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
