// The reward as the end screen shows it: from the node's RewardUpdate while
// the socket is open, else from the records API (the session's reward alone,
// read with the data code: not the customer's data view, which is audited as
// their opening it), asked again with back-off until the reward is decided or
// the app has waited long enough.
import { RewardStatus, type RewardUpdate } from "@parley/proto/live";
import { type CustomerAccess, recordedState } from "./claim.ts";

export interface ShownReward {
  status: RewardStatus;
  amountMinor: number;
  currency: string;
  reason: string;
  /**
   * A granted reward whose claim is under way or over: its state (claim.ts recordedState:
   * transfer_pending, paid, payout_failed, reversed, ...), shown instead of "Get paid". Absent:
   * there is something to claim.
   */
  settled?: string;
  /**
   * Granted, but this deployment pays nothing out (no payment provider): the reward is kept and no
   * claim is offered, as it would be refused.
   */
  unpayable?: true;
}

/** A reward as the records API keeps it (GET /api/customer/sessions/:id/reward, as in GET …/:id). */
export interface RecordedReward {
  /** none, withheld, claimable, onboarding, transfer_pending, transferred, payout_pending, paid, payout_failed, reversed */
  status: string;
  /** A bigint column: it may come as a string. */
  amountMinor: number | string;
  currency: string;
  reason: string | null;
  /** Its last payout failed: it waits on the customer's bank details (absent from older nodes). */
  payoutFailed?: boolean;
}

/** The states of a granted reward that "Get paid" still applies to (onboarding: the account is not ready yet). */
const TO_CLAIM = ["claimable", "onboarding"];

export function fromUpdate(update: RewardUpdate): ShownReward {
  return {
    status: update.status,
    amountMinor: update.amountMinor,
    currency: update.currency,
    reason: update.reason,
    ...(update.status === RewardStatus.GRANTED && update.payoutsUnavailable ? { unpayable: true as const } : {}),
  };
}

/** `payouts`: whether the deployment pays rewards out (the records API says so with the reward). */
export function fromRecords(recorded: RecordedReward, payouts = true): ShownReward {
  const base = { currency: recorded.currency, reason: recorded.reason ?? "" };
  if (recorded.status === "none") return { ...base, status: RewardStatus.NONE, amountMinor: 0 };
  if (recorded.status === "withheld") return { ...base, status: RewardStatus.WITHHELD, amountMinor: 0 };
  const amountMinor = Number(recorded.amountMinor) || 0;
  return {
    ...base,
    status: RewardStatus.GRANTED,
    amountMinor,
    ...(TO_CLAIM.includes(recorded.status) ? {} : { settled: recordedState(recorded) }),
    ...(payouts ? {} : { unpayable: true as const }),
  };
}

/**
 * The session's reward as records keep it: null while none is decided yet;
 * undefined when it could not be read (the network, the records API away, too many asks).
 */
export async function recordedReward(access: CustomerAccess): Promise<ShownReward | null | undefined> {
  try {
    const res = await fetch(`/api/customer/sessions/${encodeURIComponent(access.sessionId)}/reward`, {
      headers: { "x-parley-data-code": access.dataCode },
    });
    if (!res.ok) return undefined;
    // payouts false: this deployment pays nothing out (absent, from an older node: it may).
    const data = (await res.json()) as { reward?: RecordedReward | null; payouts?: boolean };
    return data.reward ? fromRecords(data.reward, data.payouts !== false) : null;
  } catch {
    return undefined;
  }
}

/**
 * The waits before each ask of the records API: at once, then backing off; about two minutes in all
 * (a reward is decided seconds after the end, unless the records are slow or were away).
 */
export const REWARD_POLL_DELAYS_MS = [0, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000, 15_000, 15_000, 15_000];

export interface RewardPoll {
  /** False: stop asking (the reward came another way, or the customer started again). */
  wanted: () => boolean;
  delaysMs?: readonly number[];
  ask?: (access: CustomerAccess) => Promise<ShownReward | null | undefined>;
  sleep?: (ms: number) => Promise<void>;
}

/** Asks the records API for the reward until it is decided; undefined when it was not in time (or no longer wanted). */
export async function pollRecordedReward(access: CustomerAccess, poll: RewardPoll): Promise<ShownReward | undefined> {
  const ask = poll.ask ?? recordedReward;
  const sleep = poll.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (const delay of poll.delaysMs ?? REWARD_POLL_DELAYS_MS) {
    if (delay > 0) await sleep(delay);
    if (!poll.wanted()) return undefined;
    const reward = await ask(access);
    if (reward) return reward;
  }
  return undefined;
}
