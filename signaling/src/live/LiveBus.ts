// The node's live-event bus: every live event of every conversation is
// published here once, in a LiveEnvelope that says where it belongs, and
// reaches whoever subscribed to one of its topics: the customer's socket,
// the business wall, the admin monitor, the records writer, metrics, and
// (across nodes) a Redis-backed bus. Publishers never know who listens.
import type { LiveEnvelope } from "@parley/proto/live";
import type { LiveMessage } from "./LiveMessage.ts";

/** Topics an envelope is delivered on. */
export const liveTopic = {
  session: (sessionId: string) => `session/${sessionId}`,
  store: (storeCode: string) => `store/${storeCode}`,
  business: (businessId: string) => `business/${businessId}`,
  /** Every event of the node (admins, records, metrics). */
  admin: "admin",
} as const;

/** The topics one envelope goes to, most specific first. */
export function topicsOf(envelope: LiveEnvelope): string[] {
  return [
    liveTopic.session(envelope.sessionId),
    liveTopic.store(envelope.storeCode),
    liveTopic.business(envelope.businessId),
    liveTopic.admin,
  ];
}

export type LiveHandler = (message: LiveMessage) => void;

/** Removes a subscription; safe to call twice. */
export type Unsubscribe = () => void;

export interface LiveBus {
  /**
   * Delivers the envelope to every subscriber of its topics, in publication
   * order per topic. Never throws because of a subscriber.
   */
  publish(envelope: LiveEnvelope): void;
  subscribe(topic: string, handler: LiveHandler): Unsubscribe;
  /** Number of subscriptions on a topic (monitoring, leak checks). */
  subscribers(topic: string): number;
  /**
   * Since when (Date.now() ms) this node has heard the other nodes' events
   * without a break; undefined while it cannot (Redis away). A conversation
   * of another node cannot be called silent for a time this node could not
   * have heard it (the wall's orphanedConversations).
   */
  hearingSince(): number | undefined;
  close(): void;
}
