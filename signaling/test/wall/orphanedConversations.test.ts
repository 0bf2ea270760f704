// A dead node's conversations end on the other nodes' walls (END_REASON_NODE_LOST)
// once the customer had time to join again elsewhere, instead of staying "live"
// for the hour LiveConversations allows a silent one.
import { fromBinary } from "@bufbuild/protobuf";
import { EndReason } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/wall";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { LiveConversations } from "../../src/wall/LiveConversations.ts";
import { orphanedConversations } from "../../src/wall/orphanedConversations.ts";
import { WallHub } from "../../src/wall/WallHub.ts";
import { FakeConversation } from "./events.ts";

const rules = { graceMs: 60_000, maxDurationMs: 300_000 };
const T0 = 1_800_000_000_000;

function liveOf(...conversations: FakeConversation[]) {
  const live = new LiveConversations({ now: () => T0 });
  const bus = conversations[0]!.bus;
  bus.subscribe("admin", (m) => live.apply(m));
  return live;
}

describe("conversations no node carries any more", () => {
  it("are those of a node gone from the directory, silent past the grace", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const onDead = new FakeConversation(bus, "s1", "b1", "dead-node");
    const onLive = new FakeConversation(bus, "s1", "b1", "live-node");
    const justQuiet = new FakeConversation(bus, "s1", "b1", "dead-node");
    const live = liveOf(onDead, onLive, justQuiet);
    onDead.start(T0);
    onLive.start(T0);
    justQuiet.start(T0);
    justQuiet.segment(1, "still talking", true, T0 + 50_000);
    const now = T0 + 61_000;
    const lost = orphanedConversations(live.all(), new Set(["live-node"]), now, rules).map((c) => c.sessionId);
    expect(lost).toEqual([onDead.sessionId]);
    // An ended conversation is not lost.
    onDead.end(undefined, T0 + 1_000);
    expect(orphanedConversations(live.all(), new Set(["live-node"]), now, rules)).toEqual([]);
  });

  it("are, with no directory to read or a node back under the same id, those that outlived the longest conversation", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const old = new FakeConversation(bus, "s1", "b1", "n1");
    const young = new FakeConversation(bus, "s1", "b1", "n1");
    const live = liveOf(old, young);
    old.start(T0);
    young.start(T0 + 200_000);
    const now = T0 + rules.maxDurationMs + rules.graceMs + 1;
    expect(orphanedConversations(live.all(), undefined, now, rules).map((c) => c.sessionId)).toEqual([old.sessionId]);
    expect(orphanedConversations(live.all(), new Set(["n1"]), now, rules).map((c) => c.sessionId)).toEqual([
      old.sessionId,
    ]);
  });

  it("are ended on the wall for its dashboards, after the last event they saw, with the last score", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    let now = T0;
    let alive: readonly string[] = ["dead-node", "me"];
    const frames: Uint8Array[] = [];
    const hub = new WallHub({
      bus,
      nodeId: "me",
      publish: (_topic, frame) => frames.push(frame),
      logger: pino({ level: "silent" }),
      limits: {
        softLimitBytes: 1_000_000,
        dropPartialsBytes: 2_000_000,
        closeBytes: 4_000_000,
        stallTimeoutMs: 60_000,
      },
      flushIntervalMs: 0,
      now: () => now,
      orphans: { ...rules, everyMs: 3_600_000, aliveNodes: async () => alive },
    });
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      c.score(42, {}, T0 + 1_000);
      now = T0 + 120_000;
      await hub.endOrphans();
      expect(hub.live.liveCount()).toBe(1); // its node is still in the directory
      alive = ["me"];
      const before = frames.length;
      await hub.endOrphans();
      expect(hub.live.liveCount()).toBe(0);
      const sent = frames.slice(before).map((f) => fromBinary(ServerMessageSchema, f));
      const ends = sent.flatMap((m) =>
        m.kind.case === "live" && m.kind.value.event?.kind.case === "conversationEnded" ? [m.kind.value] : [],
      );
      expect(ends).toHaveLength(3); // its store's, its business's and the admins' topics
      const end = ends[0]!;
      expect(end.sessionId).toBe(c.sessionId);
      expect(end.seq).toBe(c.seq + 1n); // dashboards apply nothing at or below what they showed
      const kind = end.event?.kind;
      expect(kind?.case === "conversationEnded" && kind.value.reason).toBe(EndReason.NODE_LOST);
      expect(kind?.case === "conversationEnded" && kind.value.finalScore?.score).toBe(42);
      // A snapshot for a dashboard that connects now has the end too, once.
      await hub.endOrphans();
      expect(frames.length).toBe(before + 3);
      expect(hub.live.get(c.sessionId)?.ended).toBe(true);
    } finally {
      hub.close();
    }
  });
});
