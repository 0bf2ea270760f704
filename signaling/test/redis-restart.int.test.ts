// Fault: the Redis that two nodes share crashes and comes back empty. Neither
// node crashes, each keeps serving its own conversations meanwhile, and live
// delivery to the other node resumes by itself: conversations held while
// Redis was down reach the other node afterwards, in order and once, and new
// ones flow live again.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LiveMessage } from "../src/live/LiveMessage.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let nodeA: ParleyServer;
let nodeB: ParleyServer;
const seenOnA: LiveMessage[] = [];
const seenOnB: LiveMessage[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
  // Node B shares node A's speech worker (one Python worker is enough here), with its token.
  const asr = { ASR_AUTH_TOKEN: "redis-fault-test-speech-worker-token" };
  nodeA = await startServer({ REDIS_URL: redis.url, NODE_ID: "node-a", ...asr });
  nodeB = await startServer({
    REDIS_URL: redis.url,
    NODE_ID: "node-b",
    ASR_WORKERS: nodeA.embeddedAsr!.address,
    ...asr,
  });
  nodeA.bus.subscribe("admin", (m) => seenOnA.push(m));
  nodeB.bus.subscribe("admin", (m) => seenOnB.push(m));
  await new Promise((r) => setTimeout(r, 300)); // the stream readers are attached
});
afterAll(async () => {
  await nodeB?.close();
  await nodeA?.close();
  await redis?.stop();
});

/** One short conversation on `node`: created, joined, ended by the customer. */
async function conversation(node: ParleyServer): Promise<string> {
  const { token, sessionId } = await createSession(node);
  const socket = await TestSocket.open(node);
  try {
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
  } finally {
    socket.close();
  }
  return sessionId;
}

/** Event kinds and sequence numbers of one session, as a node's subscribers saw them. */
const seen = (messages: LiveMessage[], sessionId: string) => messages.filter((m) => m.sessionId === sessionId);
const kinds = (messages: LiveMessage[], sessionId: string) => seen(messages, sessionId).map((m) => m.event?.kind.case);
const seqs = (messages: LiveMessage[], sessionId: string) =>
  seen(messages, sessionId).map((m) => Number(m.envelope.seq));
const complete = ["conversationEnded", "reward"];

async function metric(node: ParleyServer, name: string): Promise<number> {
  const text = await (await fetch(`${node.internalUrl}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return Number(line?.split(" ").at(-1) ?? Number.NaN);
}

describe("Redis restarted under two nodes", () => {
  it("no crash; each node serves its own meanwhile; delivery across nodes resumes by itself, in order, once", async () => {
    const before = await conversation(nodeA);
    await expect.poll(() => kinds(seenOnB, before).slice(-2), { timeout: 15_000 }).toEqual(complete);

    await redis.kill();
    // Both nodes go on serving their own customers while Redis is gone.
    const duringOnA = await conversation(nodeA);
    const duringOnB = await conversation(nodeB);
    await expect.poll(() => kinds(seenOnA, duringOnA).slice(-2), { timeout: 15_000 }).toEqual(complete);
    await expect.poll(() => kinds(seenOnB, duringOnB).slice(-2), { timeout: 15_000 }).toEqual(complete);
    // ... and hold the other node's share back in their outboxes.
    await expect.poll(() => metric(nodeA, "live_bus_outbox_size"), { timeout: 5_000 }).toBeGreaterThan(0);
    expect(seen(seenOnB, duringOnA)).toEqual([]);
    for (const node of [nodeA, nodeB]) expect((await fetch(`${node.url}/health`)).status).toBe(200);

    await redis.start(); // empty, on the same port, as after a crash
    // What was held back arrives without anyone's help, complete and in order, once.
    for (const [on, sessionId] of [
      [seenOnB, duringOnA],
      [seenOnA, duringOnB],
    ] as const) {
      await expect.poll(() => kinds(on, sessionId).slice(-2), { timeout: 30_000, interval: 200 }).toEqual(complete);
      expect(kinds(on, sessionId)[0]).toBe("sessionStarted");
      const s = seqs(on, sessionId);
      expect(s).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
    }
    await expect.poll(() => metric(nodeA, "live_bus_outbox_size"), { timeout: 10_000 }).toBe(0);

    // New conversations flow live again, both ways.
    const afterOnA = await conversation(nodeA);
    const afterOnB = await conversation(nodeB);
    await expect.poll(() => kinds(seenOnB, afterOnA).slice(-2), { timeout: 15_000 }).toEqual(complete);
    await expect.poll(() => kinds(seenOnA, afterOnB).slice(-2), { timeout: 15_000 }).toEqual(complete);
    // Nothing was delivered twice.
    for (const [on, sessionId] of [
      [seenOnB, before],
      [seenOnB, afterOnA],
      [seenOnA, afterOnB],
    ] as const) {
      const s = seqs(on, sessionId);
      expect(s).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
    }
    for (const node of [nodeA, nodeB]) {
      const r = await fetch(`${node.internalUrl}/ready`);
      expect(r.status, await r.text()).toBe(200);
    }
  }, 90_000);
});
