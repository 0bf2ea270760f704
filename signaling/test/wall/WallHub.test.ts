// The hub's flush window, its slow lane (with a recording socket), and frames for every node's hub.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import type { DashboardSocket } from "../../src/wall/WallClient.ts";
import { WallHub } from "../../src/wall/WallHub.ts";
import { FakeConversation } from "./events.ts";

const limits = { softLimitBytes: 1_000, dropPartialsBytes: 100_000, closeBytes: 1_000_000, stallTimeoutMs: 60_000 };

function recordingSocket(buffered = () => 0): DashboardSocket & { sent: Uint8Array[]; topics: Set<string> } {
  const topics = new Set<string>();
  const sent: Uint8Array[] = [];
  return {
    sent,
    topics,
    send: (f) => sent.push(f),
    bufferedAmount: buffered,
    subscribe: (t) => topics.add(t),
    unsubscribe: (t) => topics.delete(t),
    close: () => {},
  };
}

describe("the wall hub", () => {
  it("sends the first event at once and gathers the rest of the window", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const published: string[] = [];
    const hub = new WallHub({
      bus,
      nodeId: "test-node",
      publish: (topic) => published.push(topic),
      logger: pino({ level: "silent" }),
      limits,
      flushIntervalMs: 500, // the synchronous calls below fit in it however busy the machine
    });
    const c = new FakeConversation(bus, "a1", "alpha").start();
    expect(published).toEqual(["s/a1", "b/alpha", "all"]);
    c.segment(1, "one", false);
    c.segment(1, "one two", false);
    expect(published).toHaveLength(3); // waiting for the window
    await new Promise((r) => setTimeout(r, 600)); // timers run in the order they are due: the window's first
    expect(published).toHaveLength(9);
    c.segment(1, "one two three", true);
    c.segment(2, "and", false);
    hub.flush(); // a subscriber is about to take a snapshot
    expect(published).toHaveLength(15);
    hub.close();
  });

  it("moves a dashboard that buffers too much to its own queue and back once it caught up", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const hub = new WallHub({
      bus,
      nodeId: "test-node",
      publish: () => {},
      logger: pino({ level: "silent" }),
      limits,
      flushIntervalMs: 0,
    });
    let buffered = 0;
    const socket = recordingSocket(() => buffered);
    const client = hub.connect(socket);
    client.setTopics(["b/alpha"]);
    expect(socket.topics.has("b/alpha")).toBe(true);
    buffered = 5_000;
    hub.sweep();
    expect(client.lane).toBe("slow");
    expect(socket.topics.has("b/alpha")).toBe(false);
    expect(socket.topics.size).toBe(1); // its own topic keeps uWS's subscriber alive
    const c = new FakeConversation(bus, "a1", "alpha").start();
    c.segment(1, "partial", false);
    c.segment(1, "final", true);
    expect(socket.sent).toHaveLength(0); // queued while its socket is full
    expect(client.queuedBytes).toBeGreaterThan(0);
    buffered = 0;
    client.onDrain();
    // The final replaced its partial in the queue; then back on the shared path.
    expect(socket.sent).toHaveLength(2);
    expect(client.lane).toBe("fast");
    expect(socket.topics.has("b/alpha")).toBe(true);
    hub.close();
  });

  it("hands a frame for every node to each hub on the bus, its own included, and keeps nothing of it", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const hubs = ["node-a", "node-b"].map((nodeId) => {
      const published: [string, Uint8Array][] = [];
      const hub = new WallHub({
        bus,
        nodeId,
        publish: (topic, frame) => published.push([topic, frame]),
        logger: pino({ level: "silent" }),
        limits,
        flushIntervalMs: 0,
      });
      return { hub, published };
    });
    const frame = new Uint8Array([7, 7, 7]);
    hubs[0]!.hub.broadcastToAllNodes("alpha", ["p/s/a1", "p/b/alpha"], frame);
    for (const { hub, published } of hubs) {
      expect(published).toEqual([
        ["p/s/a1", frame],
        ["p/b/alpha", frame],
      ]);
      expect([...hub.live.all()]).toEqual([]);
      hub.close();
    }
  });
});
