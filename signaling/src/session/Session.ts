// One customer conversation on this node: where it belongs, its media, its
// speech stream and the socket that owns it now. Its live events go to the
// bus stamped with its route and a per-session sequence number.
import { create } from "@bufbuild/protobuf";
import type { VoiceConversation } from "@parley/inference-bridge";
import { type CustomerMedia, OUTPUT_SAMPLE_RATE } from "@parley/media";
import { EndReason, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import type { ResumableSession } from "@parley/records";
import type { Logger } from "pino";
import type { LiveBus } from "../live/LiveBus.ts";
import { audioConcealedSeconds, audioStretchedSeconds, rtpPackets } from "../metrics.ts";
import type { Store } from "../stores/StoreDirectory.ts";
import type { AudioClock } from "./AudioClock.ts";

export type { Store };

/** Whoever holds the session now (the customer's socket). */
export interface SessionOwner {
  /** The session no longer belongs to this owner: taken over, or it ended. */
  detach(reason: EndReason | "taken_over"): void;
}

export class Session {
  readonly id: string;
  readonly store: Store;
  readonly createdAt = Date.now();
  readonly logger: Logger;
  media: CustomerMedia | undefined;
  conversation: VoiceConversation | undefined;
  /** The conversation's audio timeline, continued by a media that replaces another. */
  audioClock: AudioClock | undefined;
  ended = false;
  readonly #bus: LiveBus;
  readonly #nodeId: string;
  #seq = 0n;
  #owner: SessionOwner | undefined;
  #started = false;
  #restoredPublished = false;
  #endPublished = false;
  #releaseRouter: (() => void) | undefined;
  /** While no socket holds the session: ends it unless a socket joins first. */
  #rejoinTimer: NodeJS.Timeout | undefined;

  /** What is stored of this conversation when it resumes after its node restarted. */
  readonly resumed: ResumableSession | undefined;

  constructor(
    id: string,
    store: Store,
    options: { logger: Logger; bus: LiveBus; nodeId: string; resumed?: ResumableSession | undefined },
  ) {
    this.id = id;
    this.store = store;
    this.logger = options.logger;
    this.#bus = options.bus;
    this.#nodeId = options.nodeId;
    this.resumed = options.resumed;
    // Sequence numbers go on past what the previous process published (with
    // a margin for events it published but did not store), so that
    // subscribers on other nodes do not take the new events for duplicates.
    if (options.resumed) this.#seq = options.resumed.maxSeq + 10_000n;
  }

  get started(): boolean {
    return this.#started;
  }

  /** Publishes one of this session's live events on the bus. */
  readonly publishEvent = (event: LiveEvent): void => {
    if (event.kind.case === "conversationEnded") {
      if (this.#endPublished) return; // exactly one end per conversation
      this.#endPublished = true;
    }
    this.#bus.publish(
      create(LiveEnvelopeSchema, {
        sessionId: this.id,
        storeCode: this.store.code,
        businessId: this.store.businessId,
        seq: ++this.#seq,
        nodeId: this.#nodeId,
        publishedAtMs: BigInt(Date.now()),
        event,
      }),
    );
  };

  /** The conversation begins (SessionStarted): its media and speech stream are being built. */
  begin(): void {
    if (this.#started) return;
    this.#started = true;
    this.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "sessionStarted",
          value: {
            sessionId: this.id,
            storeCode: this.store.code,
            businessId: this.store.businessId,
            language: this.store.language,
            // Resumed after its node restarted: it started when it first did (as records keep it).
            startedAtMs: BigInt(this.resumed?.startedAtMs ?? Date.now()),
            nodeId: this.#nodeId,
          },
        },
      }),
    );
  }

  /** The parts the conversation was built from, torn down by close(). */
  attachParts(
    media: CustomerMedia,
    conversation: VoiceConversation,
    releaseRouter: () => void,
    audioClock: AudioClock,
  ): void {
    this.media = media;
    this.conversation = conversation;
    this.audioClock = audioClock;
    this.#releaseRouter = releaseRouter;
  }

  /** The media moved to another worker (the previous one died); the conversation stays. */
  replaceMedia(media: CustomerMedia, releaseRouter: () => void): void {
    this.#closeMedia("replaced");
    this.#releaseRouter?.();
    this.media = media;
    this.#releaseRouter = releaseRouter;
    this.logger.info("session media moved to another worker");
  }

  /** Closes the customer's media; how late its audio was placed goes to the metrics (load tests read it). */
  #closeMedia(reason: string): void {
    const media = this.media;
    if (!media) return;
    media.close(reason); // a no-op when it closed itself (its worker died); its stats stand

    const stats = media.audioStats;
    if (!stats) return;
    if (stats.stretchedSamples > 0) audioStretchedSeconds.inc(stats.stretchedSamples / OUTPUT_SAMPLE_RATE);
    if (stats.lossConcealedSamples > 0) audioConcealedSeconds.inc(stats.lossConcealedSamples / OUTPUT_SAMPLE_RATE);
    rtpPackets.inc({ outcome: "received" }, stats.packets);
    rtpPackets.inc({ outcome: "lost" }, stats.lost);
    rtpPackets.inc({ outcome: "late" }, stats.late);
    rtpPackets.inc({ outcome: "excess" }, stats.excess);
    rtpPackets.inc({ outcome: "invalid" }, stats.invalid);
    rtpPackets.inc({ outcome: "overlapped" }, stats.overlapped);
  }

  /** `owner` holds the session from now on; the previous owner is detached. */
  attach(owner: SessionOwner): void {
    this.#stopWaitingForRejoin();
    const previous = this.#owner;
    this.#owner = owner;
    if (previous && previous !== owner) previous.detach("taken_over");
  }

  /**
   * A resumed conversation's transcript so far, published once its customer
   * listens again: the app (and every wall) gets it back under the same
   * segment ids, so nothing shows twice.
   */
  publishRestoredTranscript(): void {
    if (!this.resumed || this.#restoredPublished || !this.conversation) return;
    this.#restoredPublished = true;
    for (const segment of this.conversation.transcript.segments())
      this.publishEvent(create(LiveEventSchema, { kind: { case: "transcript", value: segment } }));
  }

  /** Whether a socket holds the session now. */
  get hasOwner(): boolean {
    return this.#owner !== undefined;
  }

  isOwner(owner: SessionOwner): boolean {
    return this.#owner === owner;
  }

  /** The owner went away; true when it was the current one. */
  release(owner: SessionOwner): boolean {
    if (this.#owner !== owner) return false;
    this.#owner = undefined;
    return true;
  }

  /**
   * The owner dropped: `expire` runs after `graceMs` unless a socket joins
   * first. The wait belongs to this detachment only: a join cancels it, so a
   * later drop gets its own full grace rather than what is left of this one.
   */
  waitForRejoin(graceMs: number, expire: () => void): void {
    this.#stopWaitingForRejoin();
    this.#rejoinTimer = setTimeout(() => {
      this.#rejoinTimer = undefined;
      expire();
    }, graceMs).unref();
  }

  #stopWaitingForRejoin(): void {
    clearTimeout(this.#rejoinTimer);
    this.#rejoinTimer = undefined;
  }

  /**
   * Tears down media and the speech stream. When `graceful`, the worker
   * finalises the transcript and the director the final score first; else
   * (the node stops now) the final score is the built-in rubric's of what was
   * transcribed, at once (VoiceConversation.endNow). Every started
   * conversation publishes exactly one ConversationEnded, with a final score
   * when the customer said anything.
   */
  async close(reason: EndReason, graceful: boolean): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.#stopWaitingForRejoin();
    this.#closeMedia(EndReason[reason]);
    this.#releaseRouter?.();
    const conversation = this.conversation;
    if (conversation) {
      // A failed last turn must not leave the session without its end: it is logged, the rest goes on.
      if (graceful)
        await conversation.end(reason).catch((err: unknown) => this.logger.error({ err }, "conversation end failed"));
      else {
        try {
          conversation.endNow(reason);
        } catch (err) {
          this.logger.error({ err }, "conversation end failed");
        }
      }
      conversation.close();
    }
    if (this.#started && !this.#endPublished)
      this.publishEvent(
        create(LiveEventSchema, {
          kind: {
            case: "conversationEnded",
            value: { sessionId: this.id, reason, currency: this.store.currency },
          },
        }),
      );
    this.logger.info(
      { reason: EndReason[reason], transcriptChars: conversation?.transcript.finalText().length ?? 0 },
      "session closed",
    );
    const owner = this.#owner;
    this.#owner = undefined;
    owner?.detach(reason);
    // An ended session stays reachable for a while (SessionRegistry.recent: its reward is published
    // after the end) and needs nothing of its parts for that: without them it holds no audio buffers
    // (the speech stream's 60 s replay ring alone is ~1.9 MiB).
    this.media = undefined;
    this.conversation = undefined;
    this.audioClock = undefined;
    this.#releaseRouter = undefined;
  }
}
