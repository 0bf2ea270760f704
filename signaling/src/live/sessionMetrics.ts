// The node's session metrics, kept by a subscriber of the bus rather than by
// whoever happens to publish: live sessions, feedback_sessions_total by
// outcome and quality tier, and live events by kind. Every SessionStarted is
// followed by exactly one ConversationEnded (Session guarantees it). A
// conversation that lost its media or its speech recognition for good (a
// FAILED status, then an end with MEDIA_LOST or SPEECH_LOST, or the app's own
// end if it came first) counts as failed.
import { EndReason, StreamState } from "@parley/proto/live";
import { activeSessions, feedbackSessionsTotal, liveEventsPublished } from "../metrics.ts";
import { type LiveBus, liveTopic, type Unsubscribe } from "./LiveBus.ts";

/** Conversations that ran their course, as opposed to ones cut short. */
const COMPLETED = new Set([
  EndReason.CUSTOMER,
  EndReason.MAX_TURNS,
  EndReason.SILENCE,
  EndReason.NOTHING_LEFT_TO_ASK,
  EndReason.MAX_DURATION, // cut at the limit, but with its final score
]);
const FAILED = new Set([EndReason.MEDIA_LOST, EndReason.SPEECH_LOST]);

const TIERS = ["high", "medium", "low"] as const;

export const qualityTier = (score: number): (typeof TIERS)[number] =>
  score >= 70 ? "high" : score >= 40 ? "medium" : "low";

/** The deployment guide's session status label for an end reason. */
export const endStatus = (reason: EndReason) =>
  COMPLETED.has(reason) ? "completed" : FAILED.has(reason) ? "failed" : "abandoned";

/**
 * The series the alerts take a rate of (ConversationsFailing: failed;
 * FraudRateHigh: fraud_detected) are created at 0 for a business, so that its
 * first failure shows as an increase: a counter series that first appears at
 * 1 shows none to rate(). (A business's id is known only once it has a
 * session.) failed is counted by the session's node, so it is created when
 * the business's first session starts here; fraud_detected is counted by
 * whichever node decides the reward, which may not be the session's (a node
 * that died before its sessions' decisions), so every node creates it when
 * it hears of the business's first session anywhere.
 */
function touchFailedSeries(businessId: string): void {
  for (const quality_tier of [...TIERS, "unknown"])
    feedbackSessionsTotal.inc({ business_id: businessId, status: "failed", quality_tier }, 0);
}

function touchFraudSeries(businessId: string): void {
  for (const quality_tier of TIERS)
    feedbackSessionsTotal.inc({ business_id: businessId, status: "fraud_detected", quality_tier }, 0);
}

/** Counts this node's own sessions (on a bus spanning nodes, others count theirs). */
export function observeSessionMetrics(bus: LiveBus, nodeId: string): Unsubscribe {
  /** This node's live sessions: whether each has lost its media or speech for good (a FAILED status). */
  const live = new Map<string, boolean>();
  /** Businesses whose fraud_detected series exist here (one entry per business, like the series). */
  const fraudSeries = new Set<string>();
  return bus.subscribe(liveTopic.admin, ({ envelope }) => {
    const kind = envelope.event?.kind;
    if (kind?.case === "sessionStarted" && !fraudSeries.has(envelope.businessId)) {
      fraudSeries.add(envelope.businessId);
      touchFraudSeries(envelope.businessId);
    }
    if (envelope.nodeId !== nodeId) return;
    if (!kind?.case) return;
    liveEventsPublished.inc({ kind: kind.case });
    if (kind.case === "sessionStarted") {
      activeSessions.inc();
      live.set(envelope.sessionId, false);
      touchFailedSeries(envelope.businessId);
      feedbackSessionsTotal.inc({ business_id: envelope.businessId, status: "started", quality_tier: "unknown" });
    } else if (kind.case === "status") {
      if (kind.value.state === StreamState.FAILED && live.has(envelope.sessionId)) live.set(envelope.sessionId, true);
    } else if (kind.case === "conversationEnded") {
      activeSessions.dec();
      const { reason, finalScore } = kind.value;
      const lost = live.get(envelope.sessionId) === true;
      live.delete(envelope.sessionId);
      feedbackSessionsTotal.inc({
        business_id: envelope.businessId,
        status: lost ? "failed" : endStatus(reason),
        quality_tier: finalScore ? qualityTier(finalScore.score) : "unknown",
      });
    }
  });
}
