// Prometheus metrics of the edge, named as in the deployment guide where it
// names them. All metrics of the process share prom-client's default registry.
import type { WorkerDeathCause } from "@parley/media";
import { Counter, collectDefaultMetrics, Gauge, Histogram, register } from "prom-client";

let defaultsCollected = false;
export function collectProcessMetrics(): void {
  if (defaultsCollected) return;
  defaultsCollected = true;
  collectDefaultMetrics();
}

export { register };

export const httpRequestsTotal = new Counter({
  name: "http_requests_total",
  help: "Total number of HTTP requests",
  labelNames: ["method", "route", "status_code"] as const,
});

export const httpRequestDuration = new Histogram({
  name: "http_request_duration_seconds",
  help: "HTTP request duration",
  labelNames: ["method", "route"] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 2],
});

export const feedbackSessionsTotal = new Counter({
  name: "feedback_sessions_total",
  help: "Total number of feedback sessions",
  labelNames: ["business_id", "status", "quality_tier"] as const,
});

/**
 * Requests a rate limit refused, by limit: the edge's (sessions-client,
 * sessions-store, stores-client, alert-emails) and records' (login,
 * login-address, data-code, data-code-address). A limit's series exists from
 * its creation, at 0.
 */
export const rateLimitRefusals = new Counter({
  name: "rate_limit_refusals_total",
  help: "Requests refused by a rate limit (HTTP 429, or an alert e-mail held back), by limit",
  labelNames: ["limit"] as const,
});

export const wsConnections = new Gauge({ name: "ws_connections", help: "Open WebSocket connections" });

export const wsMessagesTotal = new Counter({
  name: "ws_messages_total",
  help: "WebSocket messages received, by type",
  labelNames: ["type"] as const,
});

export const wsErrorsTotal = new Counter({
  name: "ws_errors_total",
  help: "Errors answered on the WebSocket, by code",
  labelNames: ["code"] as const,
});
// The codes WebSocketServerErrors takes a rate of, at 0 from start-up: a
// counter series that first appears at 1 shows no increase to rate().
for (const code of ["INTERNAL", "UNAVAILABLE"]) wsErrorsTotal.inc({ code }, 0);

export const liveEventsPublished = new Counter({
  name: "live_events_published_total",
  help: "Live events published to WebSocket topics",
  labelNames: ["kind"] as const,
});

export const activeSessions = new Gauge({ name: "voice_sessions_active", help: "Sessions with open media" });

export const audioStretchedSeconds = new Counter({
  name: "voice_audio_stretched_seconds_total",
  help: "Customer audio placed later than its RTP time because it came after the node had filled its place with silence (a stalled node or network); counted when the session's media closes",
});

export const audioConcealedSeconds = new Counter({
  name: "voice_audio_concealed_seconds_total",
  help: "Customer audio the node made up for packets lost on the way, with the codec's concealment (at most 100 ms per hole; the rest of a hole is silence); counted when the session's media closes",
});

export const mediaWorkerDeaths = new Counter({
  name: "media_worker_deaths_total",
  help: "mediasoup workers that died (cause: crashed, or hung and killed by the node); each is replaced and its sessions' media is moved to a live worker",
  labelNames: ["cause"] as const,
});
// Every cause at 0 from start-up, so that MediaWorkersDying's increase() counts a node's first death.
for (const cause of ["crashed", "hung"] satisfies WorkerDeathCause[]) mediaWorkerDeaths.inc({ cause }, 0);

export const mediaMoves = new Counter({
  name: "media_moves_total",
  help: "Sessions whose media was set up again on a live worker (MediaReset to the app), by reason: its worker died, or one of the customer's transports failed",
  labelNames: ["reason"] as const,
});

export const rtpPackets = new Counter({
  name: "media_rtp_packets_total",
  help: "Customer RTP audio packets by outcome: received (parsed), and of those late (after their place was concealed), excess (ahead of real time) or overlapped (no new audio); invalid (unparsable), lost (never arrived). Counted when the session's media closes",
  labelNames: ["outcome"] as const,
});

export const liveBusOutbox = new Gauge({
  name: "live_bus_outbox_size",
  help: "Live events waiting for Redis to reach the other nodes",
});

export const liveBusDropped = new Counter({
  name: "live_bus_dropped_total",
  help: "Live events dropped for the other nodes because Redis stayed unreachable too long",
});

export const liveBusRemoteEvents = new Counter({
  name: "live_bus_remote_events_total",
  help: "Live events received from other nodes",
});
