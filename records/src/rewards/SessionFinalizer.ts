// What happens once a conversation's end is durably recorded: the fraud and
// quality rules, then the reward from the final score, the store's policy and
// the business's daily budget, decided once (unique per session) and published
// back to the customer as a RewardUpdate. Idempotent: running it again for the
// same session re-publishes the decision already made.
import { create } from "@bufbuild/protobuf";
import { type LiveEvent, LiveEventSchema, RewardStatus } from "@parley/proto/live";
import type { Logger } from "pino";
import type { Sql } from "postgres";
import type { Fingerprint } from "../audio/AudioFingerprinter.ts";
import type { FraudDetector, FraudFlag } from "../fraud/FraudDetector.ts";
import { payoutTransitionsTotal, rewardAmountSek, rewardDecisionsTotal } from "../metrics.ts";
import { applyBudget, type PolicyDecision, parsePolicy, rewardForScore } from "./policy.ts";

export interface PublishTarget {
  sessionId: string;
  storeCode: string;
  businessId: string;
}

/** How the node sends an event of ours to the session's subscribers (it fills seq, node and time). */
export type Publish = (target: PublishTarget, event: LiveEvent) => void;

/** Labels of feedback_sessions_total (defined by the node's metrics). */
export type CountSession = (labels: { business_id: string; status: string; quality_tier: string }) => void;

export interface RewardDecision {
  rewardId: string;
  sessionId: string;
  status: "none" | "withheld" | "claimable";
  amountMinor: number;
  currency: string;
  reason: string;
  flags: FraudFlag[];
}

interface SessionRow {
  id: string;
  business_id: string;
  store_id: string;
  store_code: string;
  created_at: Date;
  consent_given_at: Date | null;
  device_hash: string | null;
  ip_hash: string | null;
  receipt_ref: string | null;
  reward_policy: unknown;
  currency: string;
  score: number | null;
  relevance: number | null;
}

export const qualityTier = (score: number) => (score >= 70 ? "high" : score >= 40 ? "medium" : "low");

export class SessionFinalizer {
  readonly #sql: Sql;
  readonly #fraud: FraudDetector;
  readonly #logger: Logger;
  readonly #publish: Publish;
  readonly #countSession: CountSession;
  readonly #now: () => number;

  constructor(options: {
    sql: Sql;
    fraud: FraudDetector;
    logger: Logger;
    publish: Publish;
    countSession: CountSession;
    now: () => number;
  }) {
    this.#sql = options.sql;
    this.#fraud = options.fraud;
    this.#logger = options.logger;
    this.#publish = options.publish;
    this.#countSession = options.countSession;
    this.#now = options.now;
  }

  async finalize(sessionId: string, fingerprint?: Fingerprint): Promise<RewardDecision | undefined> {
    const sql = this.#sql;
    const logger = this.#logger.child({ sessionId });
    const [session] = await sql<SessionRow[]>`
      select s.id, s.business_id, s.store_id, st.code as store_code, s.created_at, s.consent_given_at,
             s.device_hash, s.ip_hash, s.receipt_ref, st.reward_policy, b.currency,
             f.score, f.relevance
      from sessions s
      join stores st on st.id = s.store_id
      join businesses b on b.id = s.business_id
      left join final_scores f on f.session_id = s.id
      where s.id = ${sessionId} and s.status = 'ended'`;
    if (!session) {
      logger.warn("records: finalize for a session that is not recorded as ended");
      return undefined;
    }
    const target = { sessionId, storeCode: session.store_code, businessId: session.business_id };
    const existing = await this.#existing(sessionId);
    if (existing) {
      this.#publishDecision(target, existing);
      return existing;
    }

    const now = new Date(this.#now());
    const segments = await sql<{ text: string }[]>`
      select text from transcript_segments where session_id = ${sessionId} order by start_ms, segment_id`;
    const found = await this.#fraud.check(
      {
        sessionId,
        businessId: session.business_id,
        createdAt: session.created_at,
        deviceHash: session.device_hash,
        ipHash: session.ip_hash,
        receiptRef: session.receipt_ref,
        transcript: segments.map((s) => s.text).join(" "),
        relevance: session.relevance ?? undefined,
        fingerprint,
      },
      now,
    );

    const decision = await sql.begin(async (tx) => {
      // One reward decision at a time per business: the daily budget cannot be overspent by two nodes.
      // The lock is its own statement: in READ COMMITTED the sum below then sees every reward
      // committed before the lock was granted (a subquery in the locking statement would not).
      await tx`select 1 from businesses where id = ${session.business_id} for update`;
      // Flags an earlier run stored count too: a recovery sweep that races a first finalize (or
      // follows one that failed after its fraud check) has no fingerprint, and would miss them.
      const stored = await tx<FraudFlag[]>`
        select rule, severity, detail from fraud_flags where session_id = ${sessionId}`;
      const flags = [...found, ...stored.filter((s) => !found.some((f) => f.rule === s.rule))];
      const [business] = await tx<{ daily_budget_minor: number; spent: number }[]>`
        select b.daily_budget_minor,
               (select coalesce(sum(r.amount_minor), 0) from rewards r
                where r.business_id = b.id
                  and r.created_at >= (date_trunc('day', ${now}::timestamptz at time zone b.time_zone) at time zone b.time_zone)
               )::bigint as spent
        from businesses b where b.id = ${session.business_id}`;
      let policyDecision: PolicyDecision;
      if (!session.consent_given_at) policyDecision = { amountMinor: 0, reason: "no_consent" };
      else if (session.score === null) policyDecision = { amountMinor: 0, reason: "no_score" };
      else if (flags.length > 0) policyDecision = { amountMinor: 0, reason: "flagged" };
      else
        policyDecision = applyBudget(
          rewardForScore(parsePolicy(session.reward_policy), session.score),
          business!.daily_budget_minor,
          business!.spent,
        );
      const status: RewardDecision["status"] =
        flags.length > 0 ? "withheld" : policyDecision.amountMinor > 0 ? "claimable" : "none";
      const [row] = await tx<{ id: string }[]>`
        insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, score, status, reason, created_at, updated_at)
        values (gen_random_uuid(), ${sessionId}, ${session.business_id}, ${session.store_id}, ${policyDecision.amountMinor},
                ${session.currency}, ${session.score ?? 0}, ${status}, ${policyDecision.reason}, ${now}, ${now})
        on conflict (session_id) do nothing
        returning id`;
      return row ? { rewardId: row.id, status, flags, ...policyDecision } : undefined;
    });
    if (!decision) {
      // Another node decided first: theirs stands.
      const theirs = await this.#existing(sessionId);
      if (theirs) this.#publishDecision(target, theirs);
      return theirs;
    }

    const { flags } = decision;
    const result: RewardDecision = {
      rewardId: decision.rewardId,
      sessionId,
      status: decision.status,
      amountMinor: decision.amountMinor,
      currency: session.currency,
      reason: decision.reason,
      flags,
    };
    // The guide's histogram is in SEK: a reward in another currency is not a 0 SEK one, so it is left out.
    if (session.currency === "SEK") rewardAmountSek.observe(result.amountMinor / 100);
    rewardDecisionsTotal.inc({ status: result.status, reason: result.reason });
    payoutTransitionsTotal.inc({ state: result.status });
    if (flags.some((f) => f.severity === "fraud"))
      this.#countSession({
        business_id: session.business_id,
        status: "fraud_detected",
        quality_tier: qualityTier(session.score ?? 0),
      });
    logger.info(
      {
        rewardId: result.rewardId,
        amountMinor: result.amountMinor,
        currency: result.currency,
        reason: result.reason,
        flags: flags.map((f) => f.rule),
      },
      "reward decided",
    );
    this.#publishDecision(target, result);
    return result;
  }

  /** Sessions recorded as ended without a reward decision (a crash between the two): finalize them now. */
  async recover(): Promise<number> {
    const pending = await this.#sql<{ id: string }[]>`
      select s.id from sessions s left join rewards r on r.session_id = s.id
      where s.status = 'ended' and r.id is null and s.deleted_by_customer_at is null
      order by s.ended_at limit 1000`;
    for (const { id } of pending) await this.finalize(id);
    return pending.length;
  }

  async #existing(sessionId: string): Promise<RewardDecision | undefined> {
    const [row] = await this.#sql<
      { id: string; status: string; amount_minor: number; currency: string; reason: string }[]
    >`select id, status, amount_minor, currency, reason from rewards where session_id = ${sessionId}`;
    if (!row) return undefined;
    const status = row.status === "none" ? "none" : row.status === "withheld" ? "withheld" : "claimable";
    return {
      rewardId: row.id,
      sessionId,
      status,
      amountMinor: row.amount_minor,
      currency: row.currency,
      reason: row.reason,
      flags: [],
    };
  }

  #publishDecision(target: PublishTarget, d: RewardDecision): void {
    const status =
      d.status === "claimable"
        ? RewardStatus.GRANTED
        : d.status === "withheld"
          ? RewardStatus.WITHHELD
          : RewardStatus.NONE;
    const event = create(LiveEventSchema, {
      kind: {
        case: "reward",
        value: { sessionId: d.sessionId, status, amountMinor: d.amountMinor, currency: d.currency, reason: d.reason },
      },
    });
    try {
      this.#publish(target, event);
    } catch (error) {
      this.#logger.error({ sessionId: d.sessionId, err: error }, "records: publishing the reward failed");
    }
  }
}
