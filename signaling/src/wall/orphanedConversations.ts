// Conversations whose node died: no end will come from it, and unless the
// customer joins again on another node (which then carries the conversation
// on, under its own node id), none from anywhere. Without this a wall kept
// them "live" until the hour of silence LiveConversations allows. A
// conversation is taken as lost when nothing was heard of it for a grace
// longer than the app's reconnecting (about 45 s) and either its node has
// left the cluster (GoneNodes: by evidence a Redis outage cannot fake) or it
// has outlived the longest a conversation may last (SESSION_MAX_DURATION_MS:
// this also covers a node that restarted under the same id). Silence counts
// only while this node could hear the other nodes: after the bus comes back,
// from its return. Each wall then ends it for its own dashboards
// (END_REASON_NODE_LOST); nothing goes on the bus or to records, which keep
// their own rules for a session that never ended. The end is presumed: should
// the conversation be heard again, it is live again (LiveConversation).
import { create } from "@bufbuild/protobuf";
import { EndReason, LiveEnvelopeSchema, LiveEventSchema } from "@parley/proto/live";
import { LiveMessage } from "../live/LiveMessage.ts";
import type { LiveConversation } from "./LiveConversations.ts";

/** The app gives up reconnecting after about 45 s: a conversation silent longer is not coming back on its own. */
export const LOST_AFTER_SILENT_MS = 60_000;

export interface OrphanRules {
  /** Silence before a conversation can be taken as lost: longer than the app's reconnecting. */
  graceMs: number;
  /** The longest a conversation may last (SESSION_MAX_DURATION_MS). */
  maxDurationMs: number;
}

/** What this node knows, now, of the cluster it hears. */
export interface OrphanView {
  now: number;
  /** This node: its own conversations it hears without the bus. */
  selfId: string;
  /** The bus's hearingSince(): undefined while this node cannot hear the others (nothing of theirs is silent then). */
  hearingSince: number | undefined;
  /** Whether a node has left the cluster (GoneNodes.gone); false when that cannot be told. */
  gone: (nodeId: string) => boolean;
}

/** The live conversations that no node carries any more. */
export function orphanedConversations(
  conversations: Iterable<LiveConversation>,
  view: OrphanView,
  rules: OrphanRules,
): LiveConversation[] {
  const orphans: LiveConversation[] = [];
  for (const c of conversations) {
    if (c.ended) continue;
    const heardFrom = c.nodeId === view.selfId ? 0 : view.hearingSince;
    if (heardFrom === undefined) continue;
    // A silence this node could not have heard ended is no silence.
    if (view.now - Math.max(c.lastEventAtMs, heardFrom) <= rules.graceMs) continue;
    const outlived = view.now - c.startedAtMs > rules.maxDurationMs + rules.graceMs;
    if (outlived || view.gone(c.nodeId)) orphans.push(c);
  }
  return orphans;
}

/** The end a wall gives a lost conversation: as its node would have, with the last score it showed. */
export function nodeLostEnd(c: LiveConversation, now: number): LiveMessage {
  return new LiveMessage(
    create(LiveEnvelopeSchema, {
      sessionId: c.sessionId,
      businessId: c.businessId,
      storeCode: c.storeCode,
      nodeId: c.nodeId,
      // The last sequence number heard, not the next: that one is the conversation's own, should it be
      // heard again. Dashboards apply a NODE_LOST end at the sequence they showed (dashboard's applyEnvelope).
      seq: c.lastSeq,
      publishedAtMs: BigInt(now),
      event: create(LiveEventSchema, {
        kind: {
          case: "conversationEnded",
          value: {
            sessionId: c.sessionId,
            reason: EndReason.NODE_LOST,
            ...(c.score ? { finalScore: c.score } : {}),
          },
        },
      }),
    }),
  );
}
