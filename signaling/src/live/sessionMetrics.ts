// The node's session metrics, kept by a subscriber of the bus rather than by
// whoever happens to publish: live sessions, feedback_sessions_total by
// outcome and quality tier, and live events by kind. Every SessionStarted is
// followed by exactly one ConversationEnded (Session guarantees it).
import { EndReason } from "@parley/proto/live";
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
const FAILED = new Set([EndReason.MEDIA_LOST]);

export const qualityTier = (score: number) => (score >= 70 ? "high" : score >= 40 ? "medium" : "low");

/** The deployment guide's session status label for an end reason. */
export const endStatus = (reason: EndReason) =>
  COMPLETED.has(reason) ? "completed" : FAILED.has(reason) ? "failed" : "abandoned";

/** Counts this node's own sessions (on a bus spanning nodes, others count theirs). */
export function observeSessionMetrics(bus: LiveBus, nodeId: string): Unsubscribe {
  return bus.subscribe(liveTopic.admin, ({ envelope }) => {
    if (envelope.nodeId !== nodeId) return;
    const kind = envelope.event?.kind;
    if (!kind?.case) return;
    liveEventsPublished.inc({ kind: kind.case });
    if (kind.case === "sessionStarted") {
      activeSessions.inc();
      feedbackSessionsTotal.inc({ business_id: envelope.businessId, status: "started", quality_tier: "unknown" });
    } else if (kind.case === "conversationEnded") {
      activeSessions.dec();
      const { reason, finalScore } = kind.value;
      feedbackSessionsTotal.inc({
        business_id: envelope.businessId,
        status: endStatus(reason),
        quality_tier: finalScore ? qualityTier(finalScore.score) : "unknown",
      });
    }
  });
}
