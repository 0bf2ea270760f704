// What happens once a conversation's end is durably recorded: the fraud and
// quality rules, then the reward from the final score, the store's policy and
// the business's daily budget, decided once (unique per session) and published
// back to the customer as a RewardUpdate. The rules run in the decision's
// transaction, under the business's lock. Idempotent: running it again for the
// same session re-publishes the decision already made. A conversation its
// customer deleted before the decision gets none; one whose opening row (the
// consent, written by the node that created the session) is not stored yet
// waits for it.
import { create } from "@bufbuild/protobuf";
import { type LiveEvent, LiveEventSchema, RewardStatus } from "@parley/proto/live";
import type { Logger } from "pino";
import type { Sql, TransactionSql } from "postgres";
import type { Fingerprint } from "../audio/AudioFingerprinter.ts";
import { isRetryableDbError } from "../db/errors.ts";
import { countFlags, type FraudDetector, type FraudFlag, type SessionFacts } from "../fraud/FraudDetector.ts";
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

/** What the reward's transaction did. */
type Outcome =
  | { kind: "deleted" }
  | { kind: "taken" }
  | ({
      kind: "decided";
      rewardId: string;
      status: RewardDecision["status"];
      /** Every flag of the session; `found`: those this run's rules raised. */
      flags: FraudFlag[];
      found: FraudFlag[];
    } & PolicyDecision);

/** The business's daily budget and what it decided today (the day in its time zone). */
async function budgetToday(
  tx: TransactionSql,
  businessId: string,
  now: Date,
): Promise<{ daily_budget_minor: number; spent: number }> {
  const [business] = await tx<{ daily_budget_minor: number; spent: number }[]>`
    select b.daily_budget_minor,
           (select coalesce(sum(r.amount_minor), 0) from rewards r
            where r.business_id = b.id and r.status <> 'forfeited'
              and r.created_at >= (date_trunc('day', ${now}::timestamptz at time zone b.time_zone) at time zone b.time_zone)
           )::bigint as spent
    from businesses b where b.id = ${businessId}`;
  return business!;
}

function decidePolicy(
  session: SessionRow,
  flags: FraudFlag[],
  budget: { daily_budget_minor: number; spent: number },
): PolicyDecision {
  if (session.score === null) return { amountMinor: 0, reason: "no_score" };
  if (flags.length > 0) return { amountMinor: 0, reason: "flagged" };
  return applyBudget(
    rewardForScore(parsePolicy(session.reward_policy), session.score),
    budget.daily_budget_minor,
    budget.spent,
  );
}

/**
 * How long after its end a session is left to the node that ended it. That node decides it as soon
 * as the end is committed, with the audio fingerprint only it holds (in memory); a sweep on another
 * node that got there first would decide without it: no `replayed_audio` check, and the fingerprint
 * never stored for later sessions to be compared with. A node's own decision takes well under a
 * second, queued behind others at most seconds; a crashed node's sessions still get theirs within
 * minutes. (ended_at is the end event's time: an end written later than this, after a database
 * outage, can still be decided by a sweep first.)
 */
export const RECOVERY_GRACE_MS = 2 * 60_000;

/**
 * How far back the sweep looks for ended sessions without a decision. It runs every minute on every
 * node (on the embedded database, with the record writer waiting behind it): without a bound it read
 * every session ever recorded against every reward. A decision that keeps failing is retried, and
 * logged, every minute for this long: time to fix its cause over a weekend. Older ones are left to an
 * operator (`finalize(sessionId)`). The range is served by the index sessions_ended.
 */
export const RECOVERY_WINDOW_MS = 3 * 86_400_000;

/**
 * A session's consent, fingerprints and data code come in its opening row, queued by the node that
 * created it; its events are written by the node it lives on. After a database outage the two
 * queues drain in any order, so an end can be stored before the opening: the decision waits for it
 * (a session is only ever created with consent, so a missing one means "not arrived yet").
 */
export const AWAITING_OPENING = Symbol("awaiting the session's opening row");

export const qualityTier = (score: number) => (score >= 70 ? "high" : score >= 40 ? "medium" : "low");

export class SessionFinalizer {
  readonly #sql: Sql;
  readonly #fraud: FraudDetector;
  readonly #logger: Logger;
  readonly #publish: Publish;
  readonly #countSession: CountSession;
  readonly #now: () => number;
  readonly #payouts: boolean;

  constructor(options: {
    sql: Sql;
    fraud: FraudDetector;
    logger: Logger;
    publish: Publish;
    countSession: CountSession;
    now: () => number;
    /** Whether this deployment pays rewards out (false: a granted one is published as not payable here). */
    payouts?: boolean;
  }) {
    this.#payouts = options.payouts ?? true;
    this.#sql = options.sql;
    this.#fraud = options.fraud;
    this.#logger = options.logger;
    this.#publish = options.publish;
    this.#countSession = options.countSession;
    this.#now = options.now;
  }

  /** The session's reward decision, made now or before; undefined when none is made (see tryFinalize). */
  async finalize(sessionId: string, fingerprint?: Fingerprint): Promise<RewardDecision | undefined> {
    const result = await this.tryFinalize(sessionId, fingerprint);
    return result === AWAITING_OPENING ? undefined : result;
  }

  /**
   * The decision; undefined for a session not recorded as ended or deleted by its customer;
   * AWAITING_OPENING while its opening row is not stored (decided once it is).
   */
  async tryFinalize(
    sessionId: string,
    fingerprint?: Fingerprint,
  ): Promise<RewardDecision | typeof AWAITING_OPENING | undefined> {
    const logger = this.#logger.child({ sessionId });
    const session = await this.#endedSession(sessionId);
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

    if (!session.consent_given_at) {
      logger.info("records: the reward waits for the session's opening row (its consent), still on its way");
      return AWAITING_OPENING;
    }
    const now = new Date(this.#now());
    const facts = await this.#facts(session, fingerprint);
    const outcome = await this.#sql.begin((tx) => this.#decide(tx, session, facts, now));
    if (outcome.kind === "deleted") {
      // Nothing is decided for it, as the recovery sweep decides nothing for it: no budget is spent.
      logger.info("records: the customer deleted this conversation before its reward was decided");
      return undefined;
    }
    if (outcome.kind === "taken") {
      // Another node decided first: theirs stands.
      const theirs = await this.#existing(sessionId);
      if (theirs) this.#publishDecision(target, theirs);
      return theirs;
    }

    const { flags } = outcome;
    countFlags(outcome.found);
    const result: RewardDecision = {
      rewardId: outcome.rewardId,
      sessionId,
      status: outcome.status,
      amountMinor: outcome.amountMinor,
      currency: session.currency,
      reason: outcome.reason,
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

  async #endedSession(sessionId: string): Promise<SessionRow | undefined> {
    const [session] = await this.#sql<SessionRow[]>`
      select s.id, s.business_id, s.store_id, st.code as store_code, s.created_at, s.consent_given_at,
             s.device_hash, s.ip_hash, s.receipt_ref, st.reward_policy, b.currency,
             f.score, f.relevance
      from sessions s
      join stores st on st.id = s.store_id
      join businesses b on b.id = s.business_id
      left join final_scores f on f.session_id = s.id
      where s.id = ${sessionId} and s.status = 'ended'`;
    return session;
  }

  async #facts(session: SessionRow, fingerprint: Fingerprint | undefined): Promise<SessionFacts> {
    const segments = await this.#sql<{ text: string }[]>`
      select text from transcript_segments where session_id = ${session.id} order by start_ms, segment_id`;
    return {
      sessionId: session.id,
      businessId: session.business_id,
      createdAt: session.created_at,
      deviceHash: session.device_hash,
      ipHash: session.ip_hash,
      receiptRef: session.receipt_ref,
      transcript: segments.map((s) => s.text).join(" "),
      relevance: session.relevance ?? undefined,
      fingerprint,
    };
  }

  /** The fraud rules and the reward, in one transaction: the flags stored are those of the decision. */
  async #decide(tx: TransactionSql, session: SessionRow, facts: SessionFacts, now: Date): Promise<Outcome> {
    // One decision at a time per business: the daily budget cannot be overspent by two nodes, and
    // sessions that end together are compared with each other (receipt, audio, transcript). The lock
    // is its own statement: in READ COMMITTED what follows then sees every decision committed before
    // it was granted (a subquery in the locking statement would not). NO KEY UPDATE: the writer's
    // inserts of the business's new sessions (a key share on this row) need not wait for it.
    await tx`select 1 from businesses where id = ${session.business_id} for no key update`;
    // A share lock on the session: a customer's deletion (which locks it for update) either
    // committed before, or waits until this decision and the data it stores are committed.
    const [state] = await tx<{ deleted: boolean; decided: boolean }[]>`
      select s.deleted_by_customer_at is not null as deleted,
             exists (select 1 from rewards r where r.session_id = s.id) as decided
      from sessions s where s.id = ${session.id} for share`;
    if (state?.deleted) return { kind: "deleted" };
    if (state?.decided) return { kind: "taken" };
    const found = await this.#fraud.check(tx, facts, now);
    // Flags stored without a decision count too: before the rules ran in this transaction, a run
    // could store them and fail before deciding, and the recovery sweep has no fingerprint.
    const stored = await tx<FraudFlag[]>`
      select rule, severity, detail from fraud_flags where session_id = ${session.id}`;
    const flags = [...found, ...stored.filter((s) => !found.some((f) => f.rule === s.rule))];
    const policyDecision = decidePolicy(session, flags, await budgetToday(tx, session.business_id, now));
    const status: RewardDecision["status"] =
      flags.length > 0 ? "withheld" : policyDecision.amountMinor > 0 ? "claimable" : "none";
    const [row] = await tx<{ id: string }[]>`
      insert into rewards (id, session_id, business_id, store_id, amount_minor, currency, status, reason, created_at, updated_at)
      values (gen_random_uuid(), ${session.id}, ${session.business_id}, ${session.store_id}, ${policyDecision.amountMinor},
              ${session.currency}, ${status}, ${policyDecision.reason}, ${now}, ${now})
      on conflict (session_id) do nothing
      returning id`;
    if (!row) return { kind: "taken" };
    return { kind: "decided", rewardId: row.id, status, flags, found, ...policyDecision };
  }

  /**
   * Sessions recorded as ended without a reward decision (a crash between the two, a decision that
   * failed): finalize those that ended between RECOVERY_WINDOW_MS and RECOVERY_GRACE_MS ago and whose
   * opening row (the consent) is stored. One
   * that fails is logged and passed over. A retryable database error ends the run: the database is
   * away or overloaded, and each session left would fail alike (each after a connect timeout); the
   * next sweep goes on. Returns how many were found.
   */
  async recover(): Promise<number> {
    const now = this.#now();
    const pending = await this.#sql<{ id: string }[]>`
      select s.id from sessions s
      where s.status = 'ended' and s.deleted_by_customer_at is null and s.consent_given_at is not null
        and s.ended_at >= ${new Date(now - RECOVERY_WINDOW_MS)} and s.ended_at < ${new Date(now - RECOVERY_GRACE_MS)}
        and not exists (select 1 from rewards r where r.session_id = s.id)
      order by s.ended_at limit 1000`;
    for (const { id } of pending) {
      try {
        await this.finalize(id);
      } catch (error) {
        if (isRetryableDbError(error)) {
          this.#logger.warn(
            { sessionId: id, err: error },
            "records: recovering a reward decision failed; the next sweep goes on from it",
          );
          break;
        }
        this.#logger.error({ sessionId: id, err: error }, "records: recovering a reward decision failed");
      }
    }
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
        value: {
          sessionId: d.sessionId,
          status,
          amountMinor: d.amountMinor,
          currency: d.currency,
          reason: d.reason,
          payoutsUnavailable: status === RewardStatus.GRANTED && !this.#payouts,
        },
      },
    });
    try {
      this.#publish(target, event);
    } catch (error) {
      this.#logger.error({ sessionId: d.sessionId, err: error }, "records: publishing the reward failed");
    }
  }
}
