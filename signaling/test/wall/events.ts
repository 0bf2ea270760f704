// Synthetic conversations on a bus, for tests of the wall's subscribers.
import { create } from "@bufbuild/protobuf";
import { EndReason, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema } from "@parley/proto/live";
import type { LiveBus } from "../../src/live/LiveBus.ts";

type EventInit = Parameters<typeof create<typeof LiveEventSchema>>[1];

/** A conversation that publishes like a Session: seq from 1, SessionStarted first. */
export class FakeConversation {
  readonly sessionId: string;
  seq = 0n;
  constructor(
    readonly bus: LiveBus,
    readonly storeCode: string,
    readonly businessId: string,
    readonly nodeId = "test-node",
    sessionId = crypto.randomUUID(),
  ) {
    this.sessionId = sessionId;
  }

  publish(event: EventInit, atMs = Date.now()): void {
    this.bus.publish(
      create(LiveEnvelopeSchema, {
        sessionId: this.sessionId,
        storeCode: this.storeCode,
        businessId: this.businessId,
        seq: ++this.seq,
        nodeId: this.nodeId,
        publishedAtMs: BigInt(atMs),
        event: create(LiveEventSchema, event) as LiveEvent,
      }),
    );
  }

  start(atMs = Date.now()): this {
    this.publish(
      {
        kind: {
          case: "sessionStarted",
          value: {
            sessionId: this.sessionId,
            storeCode: this.storeCode,
            businessId: this.businessId,
            language: "en-US",
            startedAtMs: BigInt(atMs),
            nodeId: this.nodeId,
          },
        },
      },
      atMs,
    );
    return this;
  }

  segment(segmentId: number, text: string, isFinal: boolean, atMs = Date.now()): void {
    this.publish(
      {
        kind: {
          case: "transcript",
          value: { sessionId: this.sessionId, segmentId, text, isFinal, startMs: segmentId * 1000 },
        },
      },
      atMs,
    );
  }

  score(
    score: number,
    options: { sentiment?: number; topics?: string[]; through?: number; final?: boolean } = {},
    atMs = Date.now(),
  ) {
    this.publish(
      {
        kind: {
          case: "score",
          value: {
            sessionId: this.sessionId,
            score,
            sentiment: options.sentiment ?? 0,
            topics: options.topics ?? [],
            throughSegmentId: options.through ?? 0,
            isFinal: options.final ?? false,
          },
        },
      },
      atMs,
    );
  }

  end(
    finalScore?: { score: number; sentiment?: number; topics?: string[]; relevance?: number },
    atMs = Date.now(),
    rewardMinor = 0,
  ): void {
    this.publish(
      {
        kind: {
          case: "conversationEnded",
          value: {
            sessionId: this.sessionId,
            reason: EndReason.CUSTOMER,
            currency: "SEK",
            rewardMinor,
            summary: "summary",
            ...(finalScore
              ? {
                  finalScore: {
                    sessionId: this.sessionId,
                    score: finalScore.score,
                    sentiment: finalScore.sentiment ?? 0,
                    relevance: finalScore.relevance ?? 0,
                    topics: finalScore.topics ?? [],
                    isFinal: true,
                  },
                }
              : {}),
          },
        },
      },
      atMs,
    );
  }
}
