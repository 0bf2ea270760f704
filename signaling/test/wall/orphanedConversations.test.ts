// A dead node's conversations end on the other nodes' walls (END_REASON_NODE_LOST)
// once the customer had time to join again elsewhere, instead of staying "live"
// for the hour LiveConversations allows a silent one. A Redis outage must not
// pass for a dead node: while it lasts nothing is heard and every node's key
// expires, and the first reads after it list only the nodes that beat since.
import { fromBinary } from "@bufbuild/protobuf";
import { EndReason, type LiveEnvelope } from "@parley/proto/live";
import { ServerMessageSchema } from "@parley/proto/wall";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { GoneNodes, NODE_GONE_CONFIRM_MS } from "../../src/wall/GoneNodes.ts";
import { LiveConversations } from "../../src/wall/LiveConversations.ts";
import { type OrphanView, orphanedConversations } from "../../src/wall/orphanedConversations.ts";
import { WallHub } from "../../src/wall/WallHub.ts";
import { FakeConversation } from "./events.ts";

const rules = { graceMs: 60_000, maxDurationMs: 300_000 };
const T0 = 1_800_000_000_000;
const S = 1_000;

function liveOf(...conversations: FakeConversation[]) {
  const live = new LiveConversations({ now: () => T0 });
  const bus = conversations[0]!.bus;
  bus.subscribe("admin", (m) => live.apply(m));
  return live;
}

/** What the wall knows at `now`; hearing the bus since `hearingSince` (always, unless said). */
const view = (now: number, gone: string[], hearingSince: number | undefined = 0): OrphanView => ({
  now,
  selfId: "me",
  hearingSince,
  gone: (nodeId) => gone.includes(nodeId),
});

describe("conversations no node carries any more", () => {
  it("are those of a node gone from the cluster, silent past the grace", () => {
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
    const lost = orphanedConversations(live.all(), view(now, ["dead-node"]), rules).map((c) => c.sessionId);
    expect(lost).toEqual([onDead.sessionId]);
    // An ended conversation is not lost.
    onDead.end(undefined, T0 + 1_000);
    expect(orphanedConversations(live.all(), view(now, ["dead-node"]), rules)).toEqual([]);
  });

  it("are, with no node known gone or a node back under the same id, those that outlived the longest conversation", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const old = new FakeConversation(bus, "s1", "b1", "n1");
    const young = new FakeConversation(bus, "s1", "b1", "n1");
    const live = liveOf(old, young);
    old.start(T0);
    young.start(T0 + 200_000);
    const now = T0 + rules.maxDurationMs + rules.graceMs + 1;
    expect(orphanedConversations(live.all(), view(now, []), rules).map((c) => c.sessionId)).toEqual([old.sessionId]);
  });

  it("are none of other nodes while this node cannot hear them, and silent only since it hears them again", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const theirs = new FakeConversation(bus, "s1", "b1", "n1");
    const mine = new FakeConversation(bus, "s1", "b1", "me");
    const live = liveOf(theirs, mine);
    theirs.start(T0);
    mine.start(T0);
    const now = T0 + rules.maxDurationMs + rules.graceMs + 1;
    // Redis away: its own conversations this node still hears; of the others nothing is silent.
    const deaf = { ...view(now, ["n1"]), hearingSince: undefined };
    expect(orphanedConversations(live.all(), deaf, rules).map((c) => c.sessionId)).toEqual([mine.sessionId]);
    // Back 30 s ago: not silent for the grace yet, however long before it was heard last.
    const lost = orphanedConversations(live.all(), view(now, ["n1"], now - 30_000), rules);
    expect(lost.map((c) => c.sessionId)).toEqual([mine.sessionId]);
    expect(orphanedConversations(live.all(), view(now, ["n1"], now - 61_000), rules)).toHaveLength(2);
  });
});

describe("nodes gone from the cluster", () => {
  const watched = new Set(["dead"]);
  const read = (listed: string[] | undefined, at: number, hearingSince: number | undefined) => ({
    listed,
    startedAtMs: at,
    answeredAtMs: at + 5,
    hearingSince,
  });

  it("are those missing from two reads a few heartbeats apart, never from a read that misses this node", () => {
    const nodes = new GoneNodes("me");
    nodes.observe(read(["me"], T0, 0), watched);
    expect(nodes.gone("dead")).toBe(false); // once: perhaps it has not beaten since Redis came back
    nodes.observe(read(["me"], T0 + NODE_GONE_CONFIRM_MS, 0), watched);
    expect(nodes.gone("dead")).toBe(false); // too soon after the first: answered 5 ms after it began
    nodes.observe(read(["other"], T0 + 20 * S, 0), watched);
    expect(nodes.gone("dead")).toBe(false); // without this node: not the whole directory
    nodes.observe(read(["me"], T0 + 30 * S, 0), watched);
    expect(nodes.gone("dead")).toBe(false); // the evidence starts anew
    expect(nodes.gone("me")).toBe(false);
    nodes.observe(read(["me"], T0 + 40 * S, 0), watched);
    expect(nodes.gone("dead")).toBe(true);
  });

  it("are not concluded across a failed read, a node listed again, or a break in hearing the bus", () => {
    const nodes = new GoneNodes("me");
    const observe = (listed: string[] | undefined, at: number, hearingSince: number | undefined) => {
      nodes.observe(read(listed, at, hearingSince), watched);
      return nodes.gone("dead");
    };
    expect(observe(["me"], T0, 0)).toBe(false);
    expect(observe(undefined, T0 + 10 * S, 0)).toBe(false); // Redis away
    expect(observe(["me"], T0 + 20 * S, 0)).toBe(false);
    expect(observe(["me", "dead"], T0 + 30 * S, 0)).toBe(false); // it beat: alive
    expect(observe(["me"], T0 + 40 * S, 0)).toBe(false);
    // The bus reconnected between the two reads (its hearing began anew), or during the second.
    expect(observe(["me"], T0 + 50 * S, T0 + 45 * S)).toBe(false);
    expect(observe(["me"], T0 + 60 * S, undefined)).toBe(false);
    expect(observe(["me"], T0 + 70 * S, T0 + 65 * S)).toBe(false);
    expect(observe(["me"], T0 + 80 * S, T0 + 65 * S)).toBe(true);
    // A node no conversation runs on any more is not watched: its evidence goes.
    nodes.observe(read(["me"], T0 + 90 * S, T0 + 65 * S), new Set());
    expect(observe(["me"], T0 + 100 * S, T0 + 65 * S)).toBe(false);
  });
});

/** A bus whose hearing the test breaks and restores, as a Redis outage does. */
class OutageBus extends LocalLiveBus {
  hearing: number | undefined = 0;
  override hearingSince(): number | undefined {
    return this.hearing;
  }
}

/** A wall on node "me"; `directory` is what the cluster's directory lists (an Error: it cannot be read). */
function wall() {
  const bus = new OutageBus(pino({ level: "silent" }));
  let now = T0;
  const state: { directory: readonly string[] | Error } = { directory: ["me", "dead-node"] };
  const frames: Uint8Array[] = [];
  const hub = new WallHub({
    bus,
    nodeId: "me",
    publish: (_topic, frame) => frames.push(frame),
    logger: pino({ level: "silent" }),
    limits: { softLimitBytes: 1_000_000, dropPartialsBytes: 2_000_000, closeBytes: 4_000_000, stallTimeoutMs: 60_000 },
    flushIntervalMs: 0,
    now: () => now,
    orphans: {
      ...rules,
      everyMs: 3_600_000,
      aliveNodes: async () => {
        if (state.directory instanceof Error) throw state.directory;
        return state.directory;
      },
    },
  });
  /** The hub's check, run at `atMs`. */
  const look = async (atMs: number) => {
    now = atMs;
    await hub.endOrphans();
  };
  const live = (): LiveEnvelope[] =>
    frames.flatMap((f) => {
      const m = fromBinary(ServerMessageSchema, f);
      return m.kind.case === "live" ? [m.kind.value] : [];
    });
  const ends = () => live().filter((e) => e.event?.kind.case === "conversationEnded");
  return { bus, hub, state, look, frames, live, ends };
}

describe("a wall's conversations of a node gone", () => {
  it("are ended for its dashboards, at the last event they saw, with the last score, once two looks find it gone", async () => {
    const { bus, hub, state, look, frames, ends } = wall();
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      c.score(42, {}, T0 + 1_000);
      await look(T0 + 120_000);
      expect(hub.live.liveCount()).toBe(1); // its node is still in the directory
      state.directory = ["me"];
      await look(T0 + 130_000);
      expect(hub.live.liveCount()).toBe(1); // missing once: perhaps not beaten yet
      const before = frames.length;
      await look(T0 + 140_000);
      expect(hub.live.liveCount()).toBe(0);
      const sent = ends();
      expect(sent).toHaveLength(3); // its store's, its business's and the admins' topics
      const end = sent[0]!;
      expect(end.sessionId).toBe(c.sessionId);
      // The last sequence number heard: the next is the conversation's own, should it speak again.
      expect(end.seq).toBe(c.seq);
      const kind = end.event?.kind;
      expect(kind?.case === "conversationEnded" && kind.value.reason).toBe(EndReason.NODE_LOST);
      expect(kind?.case === "conversationEnded" && kind.value.finalScore?.score).toBe(42);
      // A snapshot for a dashboard that connects now has the end too, once.
      await look(T0 + 150_000);
      expect(frames.length).toBe(before + 3);
      expect(hub.live.get(c.sessionId)?.ended).toBe(true);
    } finally {
      hub.close();
    }
  });

  it("are not ended on reads of a directory that lacks this node itself (Redis just back, few nodes beaten yet)", async () => {
    const { bus, hub, state, look, ends } = wall();
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      state.directory = ["early-node"];
      for (const at of [120, 130, 140, 150]) await look(T0 + at * S);
      expect(ends()).toEqual([]);
      expect(hub.live.get(c.sessionId)?.ended).toBe(false);
      state.directory = ["me", "early-node"];
      await look(T0 + 160 * S);
      expect(ends()).toEqual([]);
      await look(T0 + 170 * S);
      expect(hub.live.get(c.sessionId)?.ended).toBe(true);
    } finally {
      hub.close();
    }
  });

  it("are not ended on one read, two too close together, or two with a failed read between", async () => {
    const { bus, hub, state, look } = wall();
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      state.directory = ["me"];
      await look(T0 + 120 * S);
      await look(T0 + 120 * S + NODE_GONE_CONFIRM_MS - 1);
      expect(hub.live.get(c.sessionId)?.ended).toBe(false);
      state.directory = new Error("redis away");
      await look(T0 + 130 * S);
      state.directory = ["me"];
      await look(T0 + 140 * S);
      expect(hub.live.get(c.sessionId)?.ended).toBe(false);
      await look(T0 + 150 * S);
      expect(hub.live.get(c.sessionId)?.ended).toBe(true);
    } finally {
      hub.close();
    }
  });

  it("are not ended for a silence the wall could not hear: counted from the bus's return, the evidence anew", async () => {
    const { bus, hub, state, look } = wall();
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      // Redis away from T0 + 10 s: nothing heard, every node's key expires.
      bus.hearing = undefined;
      state.directory = new Error("redis away");
      for (const at of [20, 30, 40, 50, 60, 70, 80]) await look(T0 + at * S);
      // Back at T0 + 90 s; this node beat first.
      bus.hearing = T0 + 90 * S;
      state.directory = ["me"];
      for (const at of [95, 105, 115, 125, 135, 145]) await look(T0 + at * S);
      expect(hub.live.get(c.sessionId)?.ended).toBe(false);
      await look(T0 + 151 * S); // 61 s since the bus came back, and its node missing all along
      expect(hub.live.get(c.sessionId)?.ended).toBe(true);
    } finally {
      hub.close();
    }
  });

  it("are live again when heard after all, and the event that says so is one dashboards apply", async () => {
    const { bus, hub, state, look, live, ends } = wall();
    try {
      const c = new FakeConversation(bus, "s1", "b1", "dead-node");
      c.start(T0);
      c.segment(1, "the coffee was cold", true, T0 + 1_000);
      state.directory = ["me"];
      await look(T0 + 120 * S);
      await look(T0 + 130 * S);
      expect(hub.live.liveCount()).toBe(0);
      const presumed = ends()[0]!;

      // Its node was partitioned, not dead: its events come after all.
      c.segment(2, "and the cake too", true, T0 + 131 * S);
      expect(hub.live.get(c.sessionId)?.ended).toBe(false);
      expect(hub.live.liveCount()).toBe(1);
      // The event after the presumed end: a number the end did not use (dashboards apply only higher ones).
      const revived = live().at(-1)!;
      expect(revived.event?.kind.case).toBe("transcript");
      expect(revived.seq).toBeGreaterThan(presumed.seq);
      // A dashboard connecting now sees it live: no end in its snapshot.
      const snapshot = hub.live.snapshot({ businessId: undefined, storeCodes: undefined, publicScreen: false });
      expect(snapshot.filter((e) => e.sessionId === c.sessionId).map((e) => e.event?.kind.case)).toEqual([
        "sessionStarted",
        "transcript",
        "transcript",
      ]);
      // Its own end, when it comes, is the end shown.
      c.end({ score: 30 }, T0 + 140 * S);
      const end = hub.live.get(c.sessionId)!;
      expect([end.ended, end.endPresumed]).toEqual([true, false]);
      const last = live().at(-1)!.event?.kind;
      expect(last?.case === "conversationEnded" && last.value.reason).toBe(EndReason.CUSTOMER);
    } finally {
      hub.close();
    }
  });
});
