// The live-event bus across nodes, against a real Redis: another node's
// events arrive in order and once; a node's own events are not doubled; a
// Redis restart or a silent network partition delays remote delivery but
// loses nothing.
import { create, toBinary } from "@bufbuild/protobuf";
import { type LiveEnvelope, LiveEnvelopeSchema, LiveEventSchema, StreamState } from "@parley/proto/live";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LiveMessage } from "../src/live/LiveMessage.ts";
import { RedisLiveBus } from "../src/live/RedisLiveBus.ts";
import { liveBusDropped } from "../src/metrics.ts";
import { PartitionProxy } from "./partitionProxy.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
const buses: RedisLiveBus[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.stop()));
});
afterAll(async () => {
  await redis?.stop();
});

let streamNo = 0;
function nodes(count: number): RedisLiveBus[] {
  const stream = `test:live:${++streamNo}`;
  const created = Array.from(
    { length: count },
    (_, i) => new RedisLiveBus({ url: redis.url, nodeId: `node-${i}`, logger: pino({ level: "silent" }), stream }),
  );
  buses.push(...created);
  return created;
}

const envelope = (nodeId: string, sessionId: string, seq: number): LiveEnvelope =>
  create(LiveEnvelopeSchema, {
    sessionId,
    storeCode: "demo",
    businessId: "b1",
    seq: BigInt(seq),
    nodeId,
    event: create(LiveEventSchema, {
      kind: { case: "status", value: { sessionId, state: StreamState.LIVE, detail: `#${seq}` } },
    }),
  });

const seqs = (got: LiveMessage[]) => got.map((m) => `${m.sessionId}#${m.envelope.seq}`);

/** Waits until every bus's reader is attached to the stream (blocked in XREAD from a known id). */
async function settle(): Promise<void> {
  const admin = new Redis(redis.url);
  try {
    const reading = async () =>
      String(await admin.client("LIST"))
        .split("\n")
        .filter((c) => c.includes(" cmd=xread")).length;
    await expect.poll(reading, { timeout: 10_000 }).toBeGreaterThanOrEqual(buses.length);
  } finally {
    admin.disconnect();
  }
}

describe("RedisLiveBus", () => {
  it("delivers another node's events in order, once, and a node's own events once", async () => {
    const [a, b] = nodes(2) as [RedisLiveBus, RedisLiveBus];
    const onA: LiveMessage[] = [];
    const onB: LiveMessage[] = [];
    a.subscribe("business/b1", (m) => onA.push(m));
    b.subscribe("business/b1", (m) => onB.push(m));
    await settle();
    for (let i = 1; i <= 50; i++) a.publish(envelope("node-0", "s1", i));
    for (let i = 1; i <= 5; i++) b.publish(envelope("node-1", "s2", i));
    const expectedA = [...Array.from({ length: 50 }, (_, i) => `s1#${i + 1}`)];
    await expect.poll(() => seqs(onB).filter((s) => s.startsWith("s1")), { timeout: 10_000 }).toEqual(expectedA);
    await expect.poll(() => seqs(onA).filter((s) => s.startsWith("s2")).length, { timeout: 10_000 }).toBe(5);
    // Own events were delivered locally at once, and never again from the stream.
    expect(seqs(onA).filter((s) => s.startsWith("s1"))).toEqual(expectedA);
    expect(seqs(onB).filter((s) => s.startsWith("s2"))).toEqual(["s2#1", "s2#2", "s2#3", "s2#4", "s2#5"]);
  });

  it("misses nothing appended while its reader re-issues a read that came back empty", async () => {
    const [b] = nodes(1) as [RedisLiveBus];
    const onB: LiveMessage[] = [];
    b.subscribe("admin", (m) => onB.push(m));
    await settle();
    const admin = new Redis(redis.url);
    try {
      const reader = String(await admin.client("LIST"))
        .split("\n")
        .find((c) => c.includes(" cmd=xread"));
      const readerId = /\bid=(\d+)/.exec(reader ?? "")?.[1];
      expect(readerId).toBeDefined();
      // The reader's XREAD returns empty (as after its 2 s block) and the append lands before it
      // reads again: one pipeline, so Redis runs both before the reader's next command arrives.
      const stream = `test:live:${streamNo}`;
      await admin
        .multi()
        .client("UNBLOCK", readerId!)
        .xadd(stream, "*", "e", Buffer.from(toBinary(LiveEnvelopeSchema, envelope("node-9", "s1", 1))))
        .exec();
      await expect.poll(() => seqs(onB), { timeout: 10_000 }).toEqual(["s1#1"]);
    } finally {
      admin.disconnect();
    }
  });

  it("drops duplicates of an entry appended twice", async () => {
    const [a, b] = nodes(2) as [RedisLiveBus, RedisLiveBus];
    const onB: LiveMessage[] = [];
    b.subscribe("admin", (m) => onB.push(m));
    await settle();
    a.publish(envelope("node-0", "s1", 1));
    a.publish(envelope("node-0", "s1", 1)); // as a retried append would
    a.publish(envelope("node-0", "s1", 2));
    await expect.poll(() => seqs(onB), { timeout: 10_000 }).toEqual(["s1#1", "s1#2"]);
  });

  it("delivers every envelope of no session (the wall's frames for every node), though none has a sequence", async () => {
    const [a, b] = nodes(2) as [RedisLiveBus, RedisLiveBus];
    const onB: LiveMessage[] = [];
    b.subscribe("admin", (m) => onB.push(m));
    await settle();
    const frame = (n: number) =>
      create(LiveEnvelopeSchema, {
        businessId: "b1",
        nodeId: "node-0",
        event: create(LiveEventSchema, {
          kind: { case: "wallBroadcast", value: { topics: ["b/b1"], frame: new Uint8Array([n]) } },
        }),
      });
    for (let n = 1; n <= 3; n++) a.publish(frame(n));
    await expect
      .poll(() => onB.map((m) => (m.event?.kind.case === "wallBroadcast" ? m.event.kind.value.frame[0] : -1)), {
        timeout: 10_000,
      })
      .toEqual([1, 2, 3]);
  });

  it("keeps events published while Redis is down and delivers them, in order, after it restarts", async () => {
    const [a, b] = nodes(2) as [RedisLiveBus, RedisLiveBus];
    const onA: LiveMessage[] = [];
    const onB: LiveMessage[] = [];
    a.subscribe("admin", (m) => onA.push(m));
    b.subscribe("admin", (m) => onB.push(m));
    await settle();
    a.publish(envelope("node-0", "s1", 1));
    await expect.poll(() => seqs(onB), { timeout: 10_000 }).toEqual(["s1#1"]);

    await redis.kill();
    for (let i = 2; i <= 20; i++) a.publish(envelope("node-0", "s1", i));
    // Local subscribers do not wait for Redis.
    expect(seqs(onA)).toHaveLength(20);
    await new Promise((r) => setTimeout(r, 300));
    expect(a.pending).toBe(19);
    await redis.start();
    const expected = Array.from({ length: 20 }, (_, i) => `s1#${i + 1}`);
    await expect.poll(() => seqs(onB), { timeout: 20_000, interval: 100 }).toEqual(expected);
    // The reader's socket can deliver an entry before the writer's socket acknowledges it.
    await expect.poll(() => a.pending, { timeout: 5_000 }).toBe(0);
  });

  it("hears the other nodes from its first read, not while Redis is down, and anew from its return", async () => {
    const [a] = nodes(1) as [RedisLiveBus];
    await expect.poll(() => a.hearingSince(), { timeout: 10_000 }).toBeTypeOf("number");
    const first = a.hearingSince()!;
    await redis.kill();
    const down = Date.now();
    await expect.poll(() => a.hearingSince(), { timeout: 10_000 }).toBeUndefined();
    await redis.start();
    await expect.poll(() => a.hearingSince(), { timeout: 20_000, interval: 100 }).toBeTypeOf("number");
    // A wall measures a conversation's silence from here: not from before the outage.
    expect(first).toBeLessThanOrEqual(down);
    expect(a.hearingSince()).toBeGreaterThan(down);
  });

  it("backs off while Redis answers but refuses appends (out of memory), and delivers once it accepts them", async () => {
    const [a, b] = nodes(2) as [RedisLiveBus, RedisLiveBus];
    const onB: LiveMessage[] = [];
    b.subscribe("admin", (m) => onB.push(m));
    await settle();
    const admin = new Redis(redis.url);
    // Attempts: calls run plus calls refused before running (Redis 7 counts those apart).
    const xadds = async () => {
      const stats = /cmdstat_xadd:calls=(\d+),.*rejected_calls=(\d+)/.exec(await admin.info("commandstats"));
      return Number(stats?.[1] ?? 0) + Number(stats?.[2] ?? 0);
    };
    try {
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", "1"); // every write is refused with OOM; the connection stays up
      a.publish(envelope("node-0", "s1", 1));
      const before = await xadds();
      await new Promise((r) => setTimeout(r, 2_000));
      // Retried with growing waits (0.1, 0.2, 0.4, 0.8 s…), not on every turn of the event loop.
      expect((await xadds()) - before).toBeLessThanOrEqual(10);
      expect(a.pending).toBe(1);
      await admin.config("SET", "maxmemory", "0");
      await expect.poll(() => seqs(onB), { timeout: 15_000, interval: 100 }).toEqual(["s1#1"]);
      // The reader's socket can deliver an entry before the writer's socket acknowledges it.
      await expect.poll(() => a.pending, { timeout: 5_000 }).toBe(0);
    } finally {
      await admin.config("SET", "maxmemory", "0").catch(() => {});
      admin.disconnect();
    }
  });

  describe("with a full outbox", () => {
    const dropped = async () => (await liveBusDropped.get()).values[0]?.value ?? 0;
    let admin: Redis;
    let a: RedisLiveBus;
    let onB: LiveMessage[];
    let droppedBefore: number;
    beforeEach(async () => {
      const stream = `test:live:${++streamNo}`;
      const bus = (nodeId: string, outboxLimit?: number) =>
        new RedisLiveBus({
          url: redis.url,
          nodeId,
          logger: pino({ level: "silent" }),
          stream,
          ...(outboxLimit ? { outboxLimit } : {}),
        });
      a = bus("node-0", 5);
      const b = bus("node-1");
      buses.push(a, b);
      onB = [];
      b.subscribe("admin", (m) => onB.push(m));
      await settle();
      droppedBefore = await dropped();
      admin = new Redis(redis.url);
      // Appends wait in Redis, the connection up, until unpaused: a batch stays in flight.
      await admin.client("PAUSE", "60000", "WRITE");
      for (let i = 1; i <= 3; i++) a.publish(envelope("node-0", "s1", i));
      const writerWaits = async () =>
        String(await admin.client("LIST"))
          .split("\n")
          .some((c) => c.includes(" name=parley:node-0 ") && c.includes(" cmd=xadd"));
      await expect.poll(writerWaits).toBe(true);
    });
    afterEach(async () => {
      await admin.client("UNPAUSE").catch(() => {});
      await admin.config("SET", "maxmemory", "0").catch(() => {});
      admin.disconnect();
    });

    it("drops the oldest events not sent yet, not those in flight, and counts each once", async () => {
      // 1-3 are in flight; 4-10 overflow the outbox (limit 5): 4 and 5 go, 1-3 are Redis's already.
      for (let i = 4; i <= 10; i++) a.publish(envelope("node-0", "s1", i));
      expect(a.pending).toBe(8);
      expect((await dropped()) - droppedBefore).toBe(2);
      await admin.client("UNPAUSE");
      const expected = ["s1#1", "s1#2", "s1#3", "s1#6", "s1#7", "s1#8", "s1#9", "s1#10"];
      await expect.poll(() => seqs(onB)).toEqual(expected);
      await expect.poll(() => a.pending).toBe(0);
      expect((await dropped()) - droppedBefore).toBe(2);
    });

    it("drops first the events of a batch that Redis refused, the oldest waiting", async () => {
      for (let i = 4; i <= 8; i++) a.publish(envelope("node-0", "s1", i));
      expect((await dropped()) - droppedBefore).toBe(0);
      await admin.config("SET", "maxmemory-policy", "noeviction");
      await admin.config("SET", "maxmemory", "1"); // the batch in flight is refused (OOM) once unpaused
      await admin.client("UNPAUSE");
      // 1-3 wait again besides 4-8: over the limit, they go.
      await expect.poll(dropped).toBe(droppedBefore + 3);
      expect(a.pending).toBe(5);
      await admin.config("SET", "maxmemory", "0");
      await expect.poll(() => seqs(onB), { timeout: 15_000 }).toEqual(["s1#4", "s1#5", "s1#6", "s1#7", "s1#8"]);
      await expect.poll(() => a.pending).toBe(0);
      expect((await dropped()) - droppedBefore).toBe(3);
    });
  });

  describe("through a silent network partition (packets dropped, sockets left open)", () => {
    let proxy: PartitionProxy;
    let stream: string;
    type Line = { level: number; client?: string; err?: string };
    const bus = (nodeId: string, url: string, lines: Line[] = []) => {
      const created = new RedisLiveBus({
        url,
        nodeId,
        logger: pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) }),
        stream,
        replyTimeoutMs: 1_000,
      });
      buses.push(created);
      return created;
    };
    /** The warnings that the client's connection answered nothing in time. */
    const timeouts = (lines: Line[], client: string) =>
      lines.filter((l) => l.client === client && l.level === 40 && /timeout/i.test(l.err ?? ""));
    const upTo = (n: number) => Array.from({ length: n }, (_, i) => `s1#${i + 1}`);
    beforeEach(async () => {
      proxy = await PartitionProxy.start(redis.port);
      stream = `test:live:${++streamNo}`;
    });
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.stop()));
      await proxy.close();
    });

    it("appends on a new connection when the writer's goes silent, losing and doubling nothing", async () => {
      const linesA: Line[] = [];
      const a = bus("node-0", proxy.url, linesA);
      const b = bus("node-1", redis.url);
      const onB: LiveMessage[] = [];
      b.subscribe("admin", (m) => onB.push(m));
      await settle();
      a.publish(envelope("node-0", "s1", 1));
      await expect.poll(() => seqs(onB)).toEqual(["s1#1"]);

      proxy.blackHole();
      for (let i = 2; i <= 10; i++) a.publish(envelope("node-0", "s1", i));
      await new Promise((r) => setImmediate(r)); // 2-10 go out, into the void
      for (let i = 11; i <= 20; i++) a.publish(envelope("node-0", "s1", i)); // these wait behind them
      await expect.poll(() => seqs(onB)).toEqual(upTo(20));
      await expect.poll(() => a.pending).toBe(0);
      expect(seqs(onB)).toEqual(upTo(20));
      expect(timeouts(linesA, "writer")).toHaveLength(1);
    });

    it("reads on a new connection when the reader's goes silent, from where it stopped", async () => {
      const linesB: Line[] = [];
      const a = bus("node-0", redis.url);
      const b = bus("node-1", proxy.url, linesB);
      const onB: LiveMessage[] = [];
      b.subscribe("admin", (m) => onB.push(m));
      await settle();
      a.publish(envelope("node-0", "s1", 1));
      await expect.poll(() => seqs(onB)).toEqual(["s1#1"]);

      proxy.blackHole();
      for (let i = 2; i <= 20; i++) a.publish(envelope("node-0", "s1", i)); // in the stream; B's read is stuck
      await expect.poll(() => seqs(onB)).toEqual(upTo(20));
      expect(timeouts(linesB, "reader")).toHaveLength(1);
    });
  });

  it("logs a full outbox at most once an interval, with the events dropped since the line before", async () => {
    const errors: { msg: string; dropped: number }[] = [];
    const bus = new RedisLiveBus({
      url: "redis://127.0.0.1:1", // nothing listens: Redis stays away
      nodeId: "node-away",
      logger: pino({ level: "error" }, { write: (line: string) => errors.push(JSON.parse(line)) }),
      stream: `test:live:away:${++streamNo}`,
      outboxLimit: 10,
      dropLogIntervalMs: 300,
    });
    buses.push(bus);
    for (let i = 1; i <= 110; i++) bus.publish(envelope("node-away", "s1", i));
    expect(bus.pending).toBe(10);
    // 100 dropped at once: one line, for the first.
    expect(errors).toEqual([expect.objectContaining({ dropped: 1 })]);
    await new Promise((r) => setTimeout(r, 600)); // past the interval
    bus.publish(envelope("node-away", "s1", 111));
    // The next line counts the 99 dropped silently, and this one.
    expect(errors.map((e) => e.dropped)).toEqual([1, 100]);
    expect(errors[1]!.msg).toMatch(/dropped for other nodes/);
  });

  it("trims stream entries older than their maximum age (they carry transcripts)", async () => {
    const stream = `test:live:age:${++streamNo}`;
    const bus = new RedisLiveBus({
      url: redis.url,
      nodeId: "node-age",
      logger: pino({ level: "silent" }),
      stream,
      streamMaxAgeMs: 1_000,
      sweepIntervalMs: 200,
    });
    buses.push(bus);
    const admin = new Redis(redis.url);
    try {
      bus.publish(envelope("node-age", "old", 1));
      await expect.poll(() => admin.xlen(stream), { timeout: 5_000 }).toBe(1);
      await new Promise((r) => setTimeout(r, 1_500));
      bus.publish(envelope("node-age", "new", 1));
      // The old entry goes with a sweep; the new one stays until it is as old.
      const sessions = async () =>
        ((await admin.xrangeBuffer(stream, "-", "+")) as [Buffer, Buffer[]][]).map(([, fields]) =>
          fields[1]!.includes(Buffer.from("new")) ? "new" : "old",
        );
      await expect.poll(sessions, { timeout: 5_000 }).toEqual(["new"]);
    } finally {
      admin.disconnect();
    }
  });
});
