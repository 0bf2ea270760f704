// Conversations whose node died: no end will come from it, and unless the
// customer joins again on another node (which then carries the conversation
// on, under its own node id), none from anywhere. Without this a wall kept
// them "live" until the hour of silence LiveConversations allows. A
// conversation is taken as lost when nothing was heard of it for a grace
// longer than the app's reconnecting (about 45 s) and either its node is no
// longer in the cluster's directory or it has outlived the longest a
// conversation may last (SESSION_MAX_DURATION_MS: this also covers a node
// that restarted under the same id). Each wall then ends it for its own
// dashboards (END_REASON_NODE_LOST); nothing goes on the bus or to records,
// which keep their own rules for a session that never ended.
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

/**
 * The live conversations that no node carries any more. `aliveNodes`:
 * the nodes in the directory now; undefined when it could not be read
 * (Redis away), then only the duration rule applies.
 */
export function orphanedConversations(
  conversations: Iterable<LiveConversation>,
  aliveNodes: ReadonlySet<string> | undefined,
  now: number,
  rules: OrphanRules,
): LiveConversation[] {
  const orphans: LiveConversation[] = [];
  for (const c of conversations) {
    if (c.ended || now - c.lastEventAtMs <= rules.graceMs) continue;
    const nodeGone = aliveNodes !== undefined && !aliveNodes.has(c.nodeId);
    const outlived = now - c.startedAtMs > rules.maxDurationMs + rules.graceMs;
    if (nodeGone || outlived) orphans.push(c);
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
      // Next in the conversation's sequence: dashboards apply nothing at or below what they showed.
      seq: c.lastSeq + 1n,
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
