// The routes of customers, who reach their one session with the data code they were given: find
// it by the code, read, download or delete what they said, see and claim their reward; and the
// Stripe webhook that moves claimed rewards on.

import Stripe from "stripe";
import type { ClaimResult } from "../payments/StripePayouts.ts";
import { type RetentionCounts, redactSessions } from "../privacy/RetentionJob.ts";
import { audit, notFound } from "./access.ts";
import { byDataCode } from "./attempts.ts";
import type { RouteContext } from "./context.ts";
import { isReply } from "./pages.ts";
import { type CustomerReward, customerRewardRow, type RewardRow, rewardJson, sessionData } from "./sessionData.ts";
import { type Auth, json, type RecordsRequest, type RecordsResponse } from "./types.ts";

/**
 * The session of a data code, for a customer who kept the code alone (the end screen shows no session
 * id): `{dataCode}` → `{sessionId}`, then the routes below with the same code. Guesses are limited per
 * address as for those routes; a guess hits any of all sessions' codes, but at 60 bits and these
 * rates that stays out of reach. An unknown, deleted or expired code: 404, the same answer.
 */
export async function customerLookup(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = await byDataCode(req, ctx, async (id) => id);
  if (isReply(sessionId)) return sessionId;
  return sessionId ? json(200, { sessionId }) : json(404, { error: "no conversation has this data code" });
}

export async function customerData(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const data = await sessionData(ctx.sql, sessionId);
  if (!data) return notFound();
  await audit(ctx, req, "customer.access", `session:${sessionId}`, data.businessId);
  const { businessId: _b, ...mine } = data;
  return json(200, {
    ...mine,
    retention: {
      transcriptAndScoresDays: ctx.dataRetentionDays,
      voiceDataHours: ctx.voiceRetentionHours,
      rawAudioKept: false,
    },
  });
}

/**
 * The session's reward alone, for the app's end screen to ask again until it is decided: one read of
 * `rewards` ({ reward: null } while none is), and no audit row, as this is not the customer opening
 * their data (customerData is). The data code was checked as for the other customer routes (a wrong
 * one, another session's, an unknown or malformed id: 401, rate-limited alike), so the session
 * exists. A reward is bookkeeping kept after a deletion or redaction, but the data code goes with
 * those, so such a session answers 401 here as it does there.
 */
export async function customerReward(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const reward = await customerRewardRow(ctx.sql, sessionId);
  // payouts false: nothing can be claimed on this deployment (no Stripe), so the app offers no claim.
  return json(200, { reward: reward ? rewardJson(reward) : null, payouts: ctx.payouts !== undefined });
}

export async function customerDelete(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  const now = new Date(ctx.now());
  // The data code is the only key to a claim and goes with the data: an unclaimed reward is
  // forfeited, which the customer must have been told (409 until they say so).
  const forfeit = req.query.get("forfeitReward") === "true";
  type Outcome =
    | { kind: "live"; retryMs: number }
    | { kind: "unclaimed"; reward: CustomerReward }
    | { kind: "deleted"; businessId: string; storeCode: string; counts: RetentionCounts; forfeited: boolean };
  const result = await ctx.sql.begin(async (tx): Promise<Outcome | undefined> => {
    const [s] = await tx<
      { business_id: string; store_code: string; status: string; created_at: Date }[]
    >`select s.business_id, st.code as store_code, s.status, s.created_at
      from sessions s join stores st on st.id = s.store_id where s.id = ${sessionId} for update of s`;
    if (!s) return undefined;
    // Deleted mid-conversation, what is said afterwards would still be written and shown to the
    // business, with the data code gone: the customer ends the conversation first. A session that
    // never ended (its node died) is deletable once it can no longer be going.
    const liveUntil = s.created_at.getTime() + ctx.sessionLiveLimitMs;
    if (s.status === "open" && liveUntil > now.getTime()) return { kind: "live", retryMs: liveUntil - now.getTime() };
    const [unclaimed] = await tx<RewardRow[]>`
      select id, amount_minor, currency, status, reason from rewards
      where session_id = ${sessionId} and status in ('claimable', 'onboarding') for update`;
    if (unclaimed && !forfeit) return { kind: "unclaimed", reward: rewardJson(unclaimed) };
    if (unclaimed)
      await tx`update rewards set status = 'forfeited', updated_at = ${now} where id = ${unclaimed.id as string}`;
    const counts = await redactSessions(tx, [sessionId], now, { keepFraudEvidence: true });
    await tx`update sessions set deleted_by_customer_at = ${now} where id = ${sessionId}`;
    return { kind: "deleted", businessId: s.business_id, storeCode: s.store_code, counts, forfeited: !!unclaimed };
  });
  if (!result) return notFound();
  if (result.kind === "live")
    return json(
      409,
      { error: "the conversation is still going: end it first, then delete its data" },
      { "retry-after": String(Math.ceil(result.retryMs / 1000)) },
    );
  if (result.kind === "unclaimed")
    return json(409, {
      error: "this conversation's reward is not claimed yet: deleting the data forfeits it (?forfeitReward=true)",
      reason: "reward_unclaimed",
      reward: result.reward,
    });
  ctx.logger.info(
    { sessionId, deleted: result.counts, rewardForfeited: result.forfeited },
    "customer deleted their data",
  );
  await audit(ctx, req, "customer.delete", `session:${sessionId}`, result.businessId, {
    ...result.counts,
    ...(result.forfeited ? { reward_forfeited: 1 } : {}),
  });
  ctx.onCustomerDeleted?.({ sessionId, businessId: result.businessId, storeCode: result.storeCode });
  // The data code went with the rest: this session can no longer be opened with it.
  return json(200, { deleted: result.counts, rewardForfeited: result.forfeited });
}

export async function claimReward(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  const sessionId = (req.auth as Extract<Auth, { kind: "customer" }>).sessionId;
  if (!ctx.payouts) return json(503, { error: "payouts are not configured on this deployment (STRIPE_SECRET_KEY)" });
  const [reward] = await ctx.sql<{ id: string; business_id: string }[]>`
    select id, business_id from rewards where session_id = ${sessionId}`;
  if (!reward) return json(404, { error: "no reward for this session (yet)" });
  let result: ClaimResult;
  try {
    result = await ctx.payouts.claim(reward.id);
  } catch (error) {
    if (error instanceof Stripe.errors.StripeError) return stripeClaimFailure(ctx, sessionId, error);
    throw error;
  }
  if (result.status === "paying")
    void ctx.payouts
      .pay(reward.id)
      .catch((error: unknown) => ctx.logger.error({ sessionId, err: error }, "reward payment failed"));
  await audit(ctx, req, "reward.claim", `reward:${reward.id}`, reward.business_id, { status: result.status });
  return json(200, result);
}

/** How long a customer is asked to wait when Stripe could not answer (the SDK has retried twice by then). */
const STRIPE_RETRY_AFTER_S = 30;

/**
 * A claim Stripe did not carry out; the reward is kept either way. Stripe unreachable, its
 * 5xx, 429, or 409 (a request with the claim's idempotency key still running): 503 with
 * Retry-After, the same claim will go through later. Any other answer is a refusal of our request
 * (our API key, the account's parameters): 502, nothing the customer can change; logged for us.
 */
function stripeClaimFailure(ctx: RouteContext, sessionId: string, error: Stripe.errors.StripeError): RecordsResponse {
  const status = error.statusCode;
  const detail = `${error.type}${error.code ? `/${error.code}` : ""}${status ? ` ${status}` : ""}: ${error.message}`;
  if (status === undefined || status >= 500 || status === 429 || status === 409) {
    ctx.logger.warn({ sessionId, err: detail }, "reward claim: Stripe cannot answer now");
    return json(
      503,
      { error: "the payment service cannot be reached now: your reward is kept, try again in a minute" },
      { "retry-after": String(STRIPE_RETRY_AFTER_S) },
    );
  }
  ctx.logger.error({ sessionId, err: detail }, "reward claim: Stripe refused the request");
  return json(502, {
    error: "the payment service refused this claim: your reward is kept; ask the store if this goes on",
  });
}

export async function stripeWebhook(req: RecordsRequest, ctx: RouteContext): Promise<RecordsResponse> {
  if (!ctx.payouts) return json(503, { error: "Stripe is not configured" });
  const { status, body: reply } = await ctx.payouts.handleWebhook(req.rawBody, req.headers["stripe-signature"]);
  return json(status, reply);
}
