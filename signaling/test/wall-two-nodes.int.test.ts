// The wall across nodes: a business's wall connected to node B shows, live
// and in order, the conversation node A handles (through one real Redis),
// and a wall connecting to B mid-conversation gets it in its snapshot.
import { DashboardClient } from "@parley/loadtest";
import { createDatabaseAt } from "@parley/records/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, demoBusiness, startServer, TestSocket } from "./harness.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let nodeA: ParleyServer;
let nodeB: ParleyServer;
beforeAll(async () => {
  redis = await RedisServer.start();
  // Two nodes of one deployment: one Redis, one database.
  const DATABASE_URL = await createDatabaseAt(inject("parleyPostgresUrl"));
  nodeA = await startServer({ REDIS_URL: redis.url, NODE_ID: "node-a", DATABASE_URL });
  nodeB = await startServer({
    REDIS_URL: redis.url,
    NODE_ID: "node-b",
    DATABASE_URL,
    ASR_WORKERS: nodeA.embeddedAsr!.address,
  });
});
afterAll(async () => {
  await nodeB?.close();
  await nodeA?.close();
  await redis?.stop();
});

describe("the wall across nodes", () => {
  it("shows node A's conversation on node B's wall, and in node B's snapshots", async () => {
    const token = nodeB.dashboardTokens.issue({ userId: "o", role: "owner", businessId: demoBusiness(nodeA) }, 60_000);
    const early = (await DashboardClient.subscribed(nodeB, token)).client;
    await new Promise((r) => setTimeout(r, 300)); // node B's stream reader is attached

    const { token: sessionToken, sessionId } = await createSession(nodeA);
    const socket = await TestSocket.open(nodeA);
    expect((await socket.request({ case: "join", value: { token: sessionToken } })).case).toBe("joined");
    await early.waitFor((m) => m.kind.case === "live" && m.kind.value.sessionId === sessionId, 15_000);

    // Mid-conversation on node B: the snapshot has it, from node A.
    const late = await DashboardClient.subscribed(nodeB, token);
    const mine = late.snapshot.live.filter((e) => e.sessionId === sessionId);
    expect(mine[0]?.event?.kind.case).toBe("sessionStarted");
    expect(mine[0]?.nodeId).toBe("node-a");

    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    socket.close();
    await early.waitFor(
      (m) =>
        m.kind.case === "live" &&
        m.kind.value.sessionId === sessionId &&
        m.kind.value.event?.kind.case === "conversationEnded",
      15_000,
    );
    const seqs = early
      .live()
      .filter((e) => e.sessionId === sessionId)
      .map((e) => Number(e.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    // Ending it is node A's to do: node B says where it runs (when it still runs).
    const admin = nodeB.dashboardTokens.issue({ userId: "a", role: "admin" }, 60_000);
    const monitor = await DashboardClient.subscribed(nodeB, admin);
    const refused = await monitor.client.request({ case: "endSession", value: { sessionId } });
    expect(refused.case).toBe("error");
    for (const c of [early, late.client, monitor.client]) c.close();
  });
});
