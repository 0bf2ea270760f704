import { RewardStatus } from "@parley/proto/live";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { LiveConversations } from "../../src/wall/LiveConversations.ts";
import { FakeConversation } from "./events.ts";

describe("what is live, for snapshots", () => {
  const setup = (now = () => Date.now()) => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const live = new LiveConversations({ endedRetentionMs: 1_000, now });
    bus.subscribe("admin", (m) => live.apply(m));
    return { bus, live };
  };

  it("compacts a conversation to the latest version of each item, in publication order, per scope", () => {
    const { bus, live } = setup();
    const a = new FakeConversation(bus, "a1", "alpha").start(1_000);
    a.segment(1, "the", false, 1_100);
    a.segment(1, "the coffee", false, 1_200);
    a.score(20, { through: 0 }, 1_300);
    a.segment(1, "the coffee was cold", true, 1_400);
    a.score(40, { through: 1 }, 1_650);
    a.segment(2, "and", false, 1_700);
    new FakeConversation(bus, "b1", "beta").start(1_000);
    const scope = { businessId: "alpha", storeCodes: undefined, publicScreen: false };
    const snapshot = live.snapshot(scope);
    expect(snapshot.map((e) => e.event?.kind.case)).toEqual(["sessionStarted", "transcript", "score", "transcript"]);
    expect(snapshot.map((e) => Number(e.seq))).toEqual([1, 5, 6, 7]);
    expect(live.liveCount(scope)).toBe(1);
    expect(live.liveCount()).toBe(2);
    expect(live.snapshot({ ...scope, publicScreen: true })).toEqual([]);
    // The final at 1400 was judged by the score at 1650.
    expect(live.get(a.sessionId)?.scoringLatencyMs).toBe(250);
    expect(live.get(a.sessionId)?.words()).toBe(4);
  });

  it("keeps an ended conversation a while, then forgets it", () => {
    let now = 10_000;
    const { bus, live } = setup(() => now);
    const a = new FakeConversation(bus, "a1", "alpha").start(now);
    a.end({ score: 50 }, now);
    live.sweep();
    expect(live.get(a.sessionId)?.ended).toBe(true);
    now += 2_000;
    live.sweep();
    expect(live.get(a.sessionId)).toBeUndefined();
  });

  it("keeps a conversation's reward in its snapshot, and a reward alone is no conversation", () => {
    const { bus, live } = setup();
    const scope = { businessId: "alpha", storeCodes: undefined, publicScreen: false };
    const a = new FakeConversation(bus, "a1", "alpha").start(1_000);
    a.end({ score: 80 }, 2_000);
    const reward = { sessionId: a.sessionId, status: RewardStatus.GRANTED, amountMinor: 2_000, currency: "SEK" };
    a.publish({ kind: { case: "reward", value: reward } }, 2_500);
    expect(live.snapshot(scope).map((e) => e.event?.kind.case)).toEqual([
      "sessionStarted",
      "conversationEnded",
      "reward",
    ]);
    // Decided after the conversation left (or on a node that just started): not counted as live.
    const late = new FakeConversation(bus, "a1", "alpha");
    late.publish({ kind: { case: "reward", value: { ...reward, sessionId: late.sessionId } } });
    expect(live.get(late.sessionId)).toBeUndefined();
    expect(live.liveCount(scope)).toBe(0);
  });
});
