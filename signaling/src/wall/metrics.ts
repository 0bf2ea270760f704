// Prometheus metrics of the dashboards (same registry as the edge's).
import { Counter, Gauge } from "prom-client";

export const wallClients = new Gauge({
  name: "wall_clients",
  help: "Open dashboard connections, by lane (fast: shared pub/sub; slow: own queue)",
  labelNames: ["lane"] as const,
});

export const wallEventsPublished = new Counter({
  name: "wall_events_published_total",
  help: "Live events fanned out to dashboards (once per event, whatever the number of dashboards)",
});

export const wallPartialsDropped = new Counter({
  name: "wall_partials_dropped_total",
  help: "Partial transcripts coalesced away or dropped for dashboards that could not keep up",
});

export const wallClientsClosed = new Counter({
  name: "wall_clients_closed_total",
  help: "Dashboards closed by the node, by reason (too_slow, stalled, signed_out: token expired or withdrawn)",
  labelNames: ["reason"] as const,
});

export const wallRequestsRefused = new Counter({
  name: "wall_requests_refused_total",
  help: "Dashboard requests refused with RATE_LIMITED, by reason (rate: over the per-client rate; in_flight: too many unanswered)",
  labelNames: ["reason"] as const,
});

export const wallAlerts = new Counter({
  name: "wall_alerts_total",
  help: "Alerts raised on business walls, by kind",
  labelNames: ["kind"] as const,
});

export const wallAlertEmails = new Counter({
  name: "wall_alert_emails_total",
  help: "Alert e-mails, by result (sent, failed, rate_limited); only the node that claimed an alert counts it",
  labelNames: ["result"] as const,
});

export const wallAlertEmailClaims = new Counter({
  name: "wall_alert_email_claims_total",
  help: "Alert e-mail claims across nodes, by result (claimed: this node sends; taken: another does; unclaimed: Redis unreachable, sent without a claim)",
  labelNames: ["result"] as const,
});

export const wallAlertsStored = new Counter({
  name: "wall_alerts_stored_total",
  help: "Alerts this node saved for later snapshots, by result (stored: kept by this node's insert; duplicate: kept already, by another node or an earlier raise; failed: not kept, logged)",
  labelNames: ["result"] as const,
});
