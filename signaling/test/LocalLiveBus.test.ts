// The live-event bus: per-topic delivery, unsubscribe, isolation of a
// throwing subscriber, and order per topic (also for events published by a
// subscriber while another event is being delivered).
import { create } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema, LiveEventSchema, StreamState } from "@parley/proto/live";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { liveTopic, topicsOf } from "../src/live/LiveBus.ts";
import type { LiveMessage } from "../src/live/LiveMessage.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";

const envelope = (sessionId: string, seq: number, store = "demo", business = "b1"): LiveEnvelope =>
  create(LiveEnvelopeSchema, {
    sessionId,
    storeCode: store,
    businessId: business,
    seq: BigInt(seq),
    event: create(LiveEventSchema, {
      kind: { case: "status", value: { sessionId, state: StreamState.LIVE, detail: `#${seq}` } },
    }),
  });

const silent = pino({ level: "silent" });
const seqs = (messages: LiveMessage[]) => messages.map((m) => Number(m.envelope.seq));

describe("LocalLiveBus", () => {
  it("routes an envelope to its session, store, business and admin topics only", () => {
    const bus = new LocalLiveBus(silent);
    const got: Record<string, string[]> = {};
    for (const topic of [
      "session/s1",
      "session/s2",
      "store/demo",
      "store/other",
      "business/b1",
      "business/b2",
      "admin",
    ])
      bus.subscribe(topic, (m) => {
        got[topic] ??= [];
        got[topic].push(m.sessionId);
      });
    bus.publish(envelope("s1", 1));
    expect(got).toEqual({ "session/s1": ["s1"], "store/demo": ["s1"], "business/b1": ["s1"], admin: ["s1"] });
    expect(topicsOf(envelope("s1", 1))).toEqual([
      liveTopic.session("s1"),
      liveTopic.store("demo"),
      liveTopic.business("b1"),
      liveTopic.admin,
    ]);
  });

  it("stops delivering after unsubscribe, which is safe to call twice", () => {
    const bus = new LocalLiveBus(silent);
    const got: LiveMessage[] = [];
    const unsubscribe = bus.subscribe("session/s1", (m) => got.push(m));
    bus.publish(envelope("s1", 1));
    unsubscribe();
    unsubscribe();
    bus.publish(envelope("s1", 2));
    expect(seqs(got)).toEqual([1]);
    expect(bus.subscribers("session/s1")).toBe(0);
  });

  it("keeps one subscription per subscribe call, even for the same handler", () => {
    const bus = new LocalLiveBus(silent);
    const got: LiveMessage[] = [];
    const handler = (m: LiveMessage) => got.push(m);
    const first = bus.subscribe("admin", handler);
    bus.subscribe("admin", handler);
    first();
    bus.publish(envelope("s1", 1));
    expect(seqs(got)).toEqual([1]);
  });

  it("delivers to the other subscribers when one throws, and logs it", () => {
    const errors: unknown[] = [];
    const logger = pino({ level: "error" }, { write: (line: string) => errors.push(JSON.parse(line)) });
    const bus = new LocalLiveBus(logger);
    const got: LiveMessage[] = [];
    bus.subscribe("admin", () => {
      throw new Error("subscriber bug");
    });
    bus.subscribe("admin", (m) => got.push(m));
    bus.publish(envelope("s1", 1));
    bus.publish(envelope("s1", 2));
    expect(seqs(got)).toEqual([1, 2]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ msg: "live-event subscriber threw", sessionId: "s1", topic: "admin" });
  });

  it("keeps publication order per topic, also when a subscriber publishes during delivery", () => {
    const bus = new LocalLiveBus(silent);
    const first: LiveMessage[] = [];
    const last: LiveMessage[] = [];
    bus.subscribe("session/s1", (m) => {
      first.push(m);
      // e.g. the records writer answering a ConversationEnded with a reward
      if (m.envelope.seq === 1n) bus.publish(envelope("s1", 2));
    });
    bus.subscribe("session/s1", (m) => last.push(m));
    bus.publish(envelope("s1", 1));
    bus.publish(envelope("s1", 3));
    expect(seqs(first)).toEqual([1, 2, 3]);
    expect(seqs(last)).toEqual([1, 2, 3]);
  });

  it("encodes a message once for all its subscribers", () => {
    const bus = new LocalLiveBus(silent);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 3; i++) bus.subscribe("session/s1", (m) => frames.push(m.serverFrame()));
    bus.publish(envelope("s1", 1));
    expect(frames).toHaveLength(3);
    expect(frames[1]).toBe(frames[0]);
    expect(frames[2]).toBe(frames[0]);
  });

  it("delivers nothing after close", () => {
    const bus = new LocalLiveBus(silent);
    const got: LiveMessage[] = [];
    bus.subscribe("admin", (m) => got.push(m));
    bus.close();
    bus.publish(envelope("s1", 1));
    expect(got).toEqual([]);
  });
});
