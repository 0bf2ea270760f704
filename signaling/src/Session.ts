// One customer conversation on this node: its media, its speech stream and
// the socket currently attached to it.
import { create, toBinary } from "@bufbuild/protobuf";
import type { VoiceConversation } from "@parley/inference-bridge";
import type { CustomerMedia } from "@parley/media";
import { EndReason, type LiveEvent } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/ws";
import type { Logger } from "pino";
import { feedbackSessionsTotal, liveEventsPublished } from "./metrics.ts";

export { EndReason };

/** Conversations that ran their course, as opposed to ones cut short. */
const COMPLETED = new Set([EndReason.CUSTOMER, EndReason.MAX_TURNS, EndReason.SILENCE, EndReason.NOTHING_LEFT_TO_ASK]);
const qualityTier = (score: number) => (score >= 70 ? "high" : score >= 40 ? "medium" : "low");

export const sessionTopic = (sessionId: string) => `session/${sessionId}`;

export type Publish = (topic: string, message: Uint8Array) => void;

export class Session {
  readonly id: string;
  readonly storeCode: string;
  readonly createdAt = Date.now();
  readonly logger: Logger;
  media: CustomerMedia | undefined;
  conversation: VoiceConversation | undefined;
  /** Identifies the socket attached now; a newer join takes the session over. */
  socketGeneration = 0;
  ended = false;
  readonly #publish: Publish;
  #releaseRouter: (() => void) | undefined;

  constructor(id: string, storeCode: string, logger: Logger, publish: Publish) {
    this.id = id;
    this.storeCode = storeCode;
    this.logger = logger;
    this.#publish = publish;
  }

  /** Sends a live event to everyone subscribed to this session's topic. */
  readonly publishEvent = (event: LiveEvent): void => {
    if (event.kind.case === "conversationEnded") {
      const { reason, finalScore } = event.kind.value;
      feedbackSessionsTotal.inc({
        business_id: this.storeCode,
        status: COMPLETED.has(reason) ? "completed" : "abandoned",
        quality_tier: qualityTier(finalScore?.score ?? 0),
      });
    }
    const bytes = toBinary(ServerMessageSchema, create(ServerMessageSchema, { kind: { case: "event", value: event } }));
    liveEventsPublished.inc({ kind: event.kind.case ?? "unknown" });
    this.#publish(sessionTopic(this.id), bytes);
  };

  attachMedia(media: CustomerMedia, releaseRouter: () => void): void {
    this.media = media;
    this.#releaseRouter = releaseRouter;
  }

  /** Tears down media and the speech stream; the final transcript is flushed first when `graceful`. */
  async close(reason: EndReason, graceful: boolean): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.media?.close(reason);
    this.#releaseRouter?.();
    const conversation = this.conversation;
    if (conversation) {
      if (graceful) await conversation.end(reason);
      conversation.close();
    }
    this.logger.info(
      { reason: EndReason[reason], transcript: conversation?.transcript.finalText().length ?? 0 },
      "session closed",
    );
  }
}
