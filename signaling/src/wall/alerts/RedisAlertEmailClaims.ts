// Alert e-mail claims shared by every node: SET key 1 NX PX ttl, which one
// node wins. Uses the node's shared-state connection (no offline queue), so
// a claim fails fast while Redis is away.
//
// Redis away: the node sends the e-mail without a claim ("unclaimed",
// counted in wall_alert_email_claims_total). Each node then sends its own,
// so a business may get one per node for alerts raised during the outage;
// the alternative, sending none, would hide an unhappy customer from the
// business exactly while someone could still do something about it.
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { AlertEmailClaim, AlertEmailClaims } from "./AlertEmailClaims.ts";

export class RedisAlertEmailClaims implements AlertEmailClaims {
  readonly #redis: Redis;
  readonly #logger: Logger;
  readonly #prefix: string;

  constructor(options: { redis: Redis; logger: Logger; prefix?: string }) {
    this.#redis = options.redis;
    this.#logger = options.logger;
    this.#prefix = options.prefix ?? "parley:alert-mail:";
  }

  async claim(key: string, ttlMs: number): Promise<AlertEmailClaim> {
    try {
      const won = await this.#redis.set(this.#prefix + key, "1", "PX", Math.max(1, Math.round(ttlMs)), "NX");
      return won === "OK" ? "claimed" : "taken";
    } catch (err) {
      this.#logger.warn({ err: (err as Error).message, key }, "alert e-mail sent unclaimed: redis unreachable");
      return "unclaimed";
    }
  }
}
