// Prometheus metrics of the records package, on prom-client's default registry
// (the node's /metrics serves them). Names follow the deployment guide where it
// names them: reward_amount_sek with its buckets.
import { Counter, Gauge, Histogram } from "prom-client";

export const rewardAmountSek = new Histogram({
  name: "reward_amount_sek",
  help: "Distribution of reward amounts in SEK",
  buckets: [0, 1, 5, 10, 20, 50, 100],
});

export const rewardDecisionsTotal = new Counter({
  name: "reward_decisions_total",
  help: "Rewards decided at the end of a conversation, by outcome and reason",
  labelNames: ["status", "reason"] as const,
});

export const payoutTransitionsTotal = new Counter({
  name: "reward_payout_transitions_total",
  help: "Reward payout state changes (claimable, onboarding, transferred, paid, reversed, ...; payout_failed: a payout failed, its reward went back to transferred)",
  labelNames: ["state"] as const,
});

/**
 * Every state a payout can move to: decided at the end of a conversation
 * (none, withheld, claimable), then through Stripe.
 */
export const PAYOUT_STATES = [
  "none",
  "withheld",
  "claimable",
  "onboarding",
  "transfer_pending",
  "transferred",
  "payout_pending",
  "paid",
  "payout_failed",
  "reversed",
] as const;
// Exported at 0 from start-up: a series that first appears at 1 shows no
// increase() to Prometheus, and PayoutFailures would miss a node's first failure.
for (const state of PAYOUT_STATES) payoutTransitionsTotal.inc({ state }, 0);

export const payoutPendingOldestAgeSeconds = new Gauge({
  name: "reward_payout_pending_oldest_age_seconds",
  help: "Age of the oldest payout waiting for Stripe's payout.paid or payout.failed webhook (0: none), as of the last sweep",
});

export const payoutAmountSekTotal = new Counter({
  name: "reward_payout_amount_sek_total",
  help: "SEK paid out to customers' bank accounts (payout.paid)",
});

export const stripeRequestsTotal = new Counter({
  name: "stripe_requests_total",
  help: "Calls to Stripe's API by operation and outcome",
  labelNames: ["operation", "outcome"] as const,
});

export const stripeWebhooksTotal = new Counter({
  name: "stripe_webhooks_total",
  help: "Stripe webhook deliveries by type and outcome (applied, duplicate, ignored, rejected)",
  labelNames: ["type", "outcome"] as const,
});

export const fraudFlagsTotal = new Counter({
  name: "fraud_flags_total",
  help: "Fraud and quality flags raised, by rule",
  labelNames: ["rule", "severity"] as const,
});

export const recordsQueueDepth = new Gauge({
  name: "records_queue_depth",
  help: "Records waiting to be written to Postgres",
});

export const recordsWrittenTotal = new Counter({
  name: "records_written_total",
  help: "Records written to Postgres, by kind",
  labelNames: ["kind"] as const,
});

export const recordsWriteRetriesTotal = new Counter({
  name: "records_write_retries_total",
  help: "Batches retried because Postgres could not be reached",
});

export const recordsDeadLettersTotal = new Counter({
  name: "records_dead_letters_total",
  help: "Records Postgres refused for good, kept in dead_letters (or dropped when the queue was full)",
  labelNames: ["reason"] as const,
});

export const recordsBatchDuration = new Histogram({
  name: "records_batch_duration_seconds",
  help: "Time to write one batch of records to Postgres",
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
});

export const retentionDeletedTotal = new Counter({
  name: "retention_deleted_total",
  help: "Rows the retention job deleted, by kind",
  labelNames: ["kind"] as const,
});
