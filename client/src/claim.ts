// Claiming a reward: the records API's claim and the customer's own view of the
// reward, and the data code kept for the browser tab while the customer is away
// at Stripe's onboarding (it returns to /?claimed=<session>; the code is not in
// the address, which Stripe and the browser's history would keep).

/** What proves a customer's right to their session's data and reward. */
export interface CustomerAccess {
  sessionId: string;
  dataCode: string;
}

/**
 * Where a claim got: away to onboarding, money moving or paid; nothing (left) to claim, with the
 * reward's state (undefined: it could not be read); refused, which trying again will not change;
 * or failed for now.
 */
export type ClaimOutcome =
  | { kind: "onboarding"; url: string }
  | { kind: "paying" }
  | { kind: "paid" }
  | { kind: "settled"; state: string | undefined }
  | { kind: "refused" }
  | { kind: "failed" };

const KEY = "parley.claim";

/** Keeps the access for this tab, for the return from Stripe. */
export function rememberClaim(access: CustomerAccess): void {
  try {
    sessionStorage.setItem(KEY, JSON.stringify(access));
  } catch {
    /* storage disabled: the return page says so in general terms */
  }
}

/** The access kept for this session, if this tab claimed it. */
export function rememberedClaim(sessionId: string): CustomerAccess | undefined {
  try {
    const kept = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Partial<CustomerAccess> | null;
    return kept?.sessionId === sessionId && typeof kept.dataCode === "string"
      ? { sessionId, dataCode: kept.dataCode }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Asks for the reward: an onboarding link while the customer's payout account is not ready. */
export async function claimReward(access: CustomerAccess): Promise<ClaimOutcome> {
  try {
    const res = await fetch(`/api/customer/sessions/${encodeURIComponent(access.sessionId)}/reward/claim`, {
      method: "POST",
      headers: { "x-parley-data-code": access.dataCode },
    });
    // 409: nothing to claim (no reward, withheld, reversed). A refusal that trying again does not
    // change: Stripe's (the records API's 502, with its JSON reason: a proxy's 502 for a node that
    // is down has none) or of the request (400, 401, 403). Anything else passes (404: no reward
    // decided yet; 429; 503 with Retry-After: Stripe or the database away).
    if (res.status === 409) return { kind: "settled", state: await rewardState(access) };
    if (refusedForGood(res)) return { kind: "refused" };
    if (!res.ok) return { kind: "failed" };
    const result = (await res.json()) as { status: string; onboardingUrl?: string };
    if (result.onboardingUrl) return { kind: "onboarding", url: result.onboardingUrl };
    if (result.status === "paid") return { kind: "paid" };
    // "paying" (the account is ready: the transfer starts now) and "in_progress" (it started already).
    return { kind: "paying" };
  } catch {
    return { kind: "failed" };
  }
}

function refusedForGood(res: Response): boolean {
  if (res.status === 502) return (res.headers.get("content-type") ?? "").startsWith("application/json");
  return res.status === 400 || res.status === 401 || res.status === 403;
}

/**
 * A reward's state as the app tells it: records' (claimable, onboarding, transfer_pending, paid, ...),
 * but "payout_failed" for one whose last payout the customer's bank did not take: records keep it
 * `transferred` (the money is back on the customer's payout account) and say `payoutFailed`, and it
 * waits on the customer's bank details, which a claim asks for again.
 */
export function recordedState(reward: { status: string; payoutFailed?: boolean }): string {
  return reward.payoutFailed ? "payout_failed" : reward.status;
}

/** The reward's state (recordedState; "none" without a reward), if it can be read. */
export async function rewardState(access: CustomerAccess): Promise<string | undefined> {
  try {
    const res = await fetch(`/api/customer/sessions/${encodeURIComponent(access.sessionId)}`, {
      headers: { "x-parley-data-code": access.dataCode },
    });
    if (!res.ok) return undefined;
    const data = (await res.json()) as { reward: { status: string; payoutFailed?: boolean } | null };
    return data.reward ? recordedState(data.reward) : "none";
  } catch {
    return undefined;
  }
}
