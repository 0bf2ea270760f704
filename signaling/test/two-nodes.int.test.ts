// Two nodes sharing one real Redis: a subscriber on node B sees, in order,
// the conversation that node A handles.
import { EndReason } from "@parley/proto/live";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LiveMessage } from "../src/live/LiveMessage.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let nodeA: ParleyServer;
let nodeB: ParleyServer;
beforeAll(async () => {
  redis = await RedisServer.start();
  nodeA = await startServer({ REDIS_URL: redis.url, NODE_ID: "node-a" });
  // Node B shares node A's speech worker: one Python worker is enough here.
  nodeB = await startServer({ REDIS_URL: redis.url, NODE_ID: "node-b", ASR_WORKERS: nodeA.embeddedAsr!.address });
});
afterAll(async () => {
  await nodeB?.close();
  await nodeA?.close();
  await redis?.stop();
});

describe("two nodes and one Redis", () => {
  it("node B's subscribers see node A's conversation, in order, once", async () => {
    const seenOnB: LiveMessage[] = [];
    nodeB.bus.subscribe("admin", (m) => seenOnB.push(m));
    await new Promise((r) => setTimeout(r, 300)); // node B's stream reader is attached

    const { token, sessionId } = await createSession(nodeA);
    const socket = await TestSocket.open(nodeA);
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    socket.close();

    const kinds = () => seenOnB.filter((m) => m.sessionId === sessionId).map((m) => m.event?.kind.case);
    // The conversation's end, then (from the records database) its reward decision.
    await expect.poll(() => kinds().slice(-2), { timeout: 15_000 }).toEqual(["conversationEnded", "reward"]);
    const mine = seenOnB.filter((m) => m.sessionId === sessionId);
    expect(mine[0]?.event?.kind.case).toBe("sessionStarted");
    expect(mine.every((m) => m.envelope.nodeId === "node-a")).toBe(true);
    const seqs = mine.map((m) => Number(m.envelope.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    const ended = mine.at(-2)!.event!.kind;
    expect(ended.case === "conversationEnded" && ended.value.reason).toBe(EndReason.CUSTOMER);
  });
});
