// What every records route is handed: the database, the clock, the limiters
// and the settings its handler needs.
import type { Logger } from "pino";
import type { Sql } from "postgres";
import type { RateLimiter } from "../auth/RateLimiter.ts";
import type { TokenRevocations } from "../auth/TokenRevocations.ts";
import type { StripePayouts } from "../payments/StripePayouts.ts";

export interface RouteContext {
  sql: Sql;
  logger: Logger;
  authSecret: string;
  userTokenTtlMs: number;
  /** Logins withdrawn before they expire (a staff member removed, or their stores changed). */
  revocations: TokenRevocations;
  /** Failed logins per e-mail; data-code guesses per session and address. */
  loginLimiter: RateLimiter;
  /** Failed logins per client address (a looser cap than per e-mail: ADDRESS_LIMIT_FACTOR times). */
  loginAddressLimiter: RateLimiter;
  /** Data-code guesses per client address (a looser cap than per session). */
  codeAddressLimiter: RateLimiter;
  /** Undefined when Stripe is not configured: claims answer 503. */
  payouts: StripePayouts | undefined;
  now: () => number;
  /** Checks a customer's data code against the session's stored hash. */
  verifyDataCode(sessionId: string, code: string): Promise<boolean>;
  /** The session a data code belongs to; undefined for none (deleted, past retention, never issued). */
  findByDataCode(code: string): Promise<string | undefined>;
  dataRetentionDays: number;
  voiceRetentionHours: number;
  /** How long after its creation a session that has not ended may still be going (joined late, then at most its length). */
  sessionLiveLimitMs: number;
  /** Told after a customer deleted their data (the node takes it off public screens). */
  onCustomerDeleted?: (deleted: CustomerDeletion) => void;
  /** Told after a store's name, language or time zone changed (the node stops serving its cached copy). */
  onStoreChanged?: (storeCode: string) => void;
  /** Told of each request one of the limiters above refused (answered 429). */
  onRateLimited?: (limit: RecordsRateLimit) => void;
}

/**
 * Records' rate limits, as metrics name them: failed logins per e-mail and per
 * address; data-code guesses per session (and address) and per address.
 */
export const recordsRateLimits = ["login", "login-address", "data-code", "data-code-address"] as const;
export type RecordsRateLimit = (typeof recordsRateLimits)[number];

/** A session whose data its customer deleted. */
export interface CustomerDeletion {
  sessionId: string;
  businessId: string;
  storeCode: string;
}
