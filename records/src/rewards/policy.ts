// A store's reward policy and the pure decision it gives for one final score.
// Amounts are in minor units of the business's currency (öre for SEK).
import { ErrorCode, ParleyError } from "@parley/proto/errors";

export interface RewardTier {
  /** The tier applies from this final score (0..100) up. */
  minScore: number;
  amountMinor: number;
}

export interface RewardPolicy {
  /** Below this final score nothing is paid, whatever the tiers say. */
  minQuality: number;
  /** Ascending by minScore. */
  tiers: RewardTier[];
  /** The most one conversation can earn. */
  capMinor: number;
}

/** Nothing below 40, then rising: 5, 10, 20 and 30 kr; at most 30 kr a conversation. */
export const DEFAULT_POLICY: RewardPolicy = {
  minQuality: 40,
  tiers: [
    { minScore: 40, amountMinor: 500 },
    { minScore: 60, amountMinor: 1_000 },
    { minScore: 75, amountMinor: 2_000 },
    { minScore: 90, amountMinor: 3_000 },
  ],
  capMinor: 3_000,
};

export type RewardReason =
  | "tier"
  | "below_minimum_quality"
  | "budget_exhausted"
  | "flagged"
  | "no_consent"
  | "no_score";

export interface PolicyDecision {
  amountMinor: number;
  reason: RewardReason;
}

/** The amount the policy gives for a score, before the daily budget and fraud rules. */
export function rewardForScore(policy: RewardPolicy, score: number): PolicyDecision {
  if (score < policy.minQuality) return { amountMinor: 0, reason: "below_minimum_quality" };
  let amount = 0;
  for (const tier of policy.tiers) if (score >= tier.minScore) amount = tier.amountMinor;
  if (amount === 0) return { amountMinor: 0, reason: "below_minimum_quality" };
  return { amountMinor: Math.min(amount, policy.capMinor), reason: "tier" };
}

/** The daily budget: a reward is paid whole or not at all, never partly. */
export function applyBudget(decision: PolicyDecision, budgetMinor: number, spentTodayMinor: number): PolicyDecision {
  if (decision.amountMinor === 0) return decision;
  if (spentTodayMinor + decision.amountMinor > budgetMinor) return { amountMinor: 0, reason: "budget_exhausted" };
  return decision;
}

const isAmount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 10_000_000;
const isScore = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 100;

/** Validates a policy from a request or the database; throws INVALID_ARGUMENT saying what is wrong. */
export function parsePolicy(value: unknown): RewardPolicy {
  const bad = (why: string) => new ParleyError(ErrorCode.INVALID_ARGUMENT, `reward policy: ${why}`);
  if (typeof value !== "object" || value === null) throw bad("must be an object");
  const v = value as Record<string, unknown>;
  if (!isScore(v.minQuality)) throw bad("minQuality must be an integer 0..100");
  if (!isAmount(v.capMinor)) throw bad("capMinor must be a non-negative integer (minor units)");
  if (!Array.isArray(v.tiers) || v.tiers.length > 20) throw bad("tiers must be a list of at most 20");
  const tiers: RewardTier[] = v.tiers.map((t: unknown, i) => {
    const tier = (t ?? {}) as Record<string, unknown>;
    if (!isScore(tier.minScore)) throw bad(`tiers[${i}].minScore must be an integer 0..100`);
    if (!isAmount(tier.amountMinor)) throw bad(`tiers[${i}].amountMinor must be a non-negative integer`);
    return { minScore: tier.minScore, amountMinor: tier.amountMinor };
  });
  for (let i = 1; i < tiers.length; i++)
    if (tiers[i]!.minScore <= tiers[i - 1]!.minScore) throw bad("tiers must be in ascending minScore order");
  return { minQuality: v.minQuality, tiers, capMinor: v.capMinor };
}
