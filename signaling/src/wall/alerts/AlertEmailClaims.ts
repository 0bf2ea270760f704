// Who e-mails an alert. Every node hears every conversation (the Redis bus)
// and raises the same alert for its own dashboards; only the node that
// claims it first sends the e-mail. The claim's key names the alert the same
// way on every node (its kind and conversation, or for a topic spike its
// business and topic), so a business gets one e-mail per alert however many
// nodes it runs on: RedisAlertEmailClaims across nodes, LocalAlertEmailClaims
// for a node alone.

/**
 * "claimed": this node sends it; "taken": another node (or an earlier raise
 * on this one) does; "unclaimed": nobody could be asked (Redis away), this
 * node sends it anyway.
 */
export type AlertEmailClaim = "claimed" | "taken" | "unclaimed";

export interface AlertEmailClaims {
  /** Claims the e-mail of the alert named `key` for `ttlMs` (after which the same key may be claimed again). */
  claim(key: string, ttlMs: number): Promise<AlertEmailClaim>;
}
