// Alert e-mail claims of a node alone (no REDIS_URL): in this process, with
// the same expiry as in Redis, so one node and many behave alike.
import type { AlertEmailClaim, AlertEmailClaims } from "./AlertEmailClaims.ts";

export class LocalAlertEmailClaims implements AlertEmailClaims {
  /** Key → when its claim expires (ms). */
  readonly #claims = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  async claim(key: string, ttlMs: number): Promise<AlertEmailClaim> {
    const now = this.#now();
    // Alerts are rare (a few an hour per business): a full sweep per claim keeps the map small enough.
    for (const [k, expiresAt] of this.#claims) if (expiresAt <= now) this.#claims.delete(k);
    if (this.#claims.has(key)) return "taken";
    this.#claims.set(key, now + ttlMs);
    return "claimed";
  }
}
