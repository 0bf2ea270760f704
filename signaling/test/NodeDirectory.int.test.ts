// Nodes find each other through a real Redis.
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NodeInfo, RedisNodeDirectory } from "../src/cluster/NodeDirectory.ts";
import { RedisServer } from "./redis-server.ts";

const node = (nodeId: string, liveSessions: number, maxSessions = 10, draining = false): NodeInfo => ({
  nodeId,
  publicUrl: `http://${nodeId}`,
  liveSessions,
  maxSessions,
  draining,
  updatedAtMs: 0,
});

let redis: RedisServer;
const clients: Redis[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis?.stop();
});

const client = () => {
  const c = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  clients.push(c);
  return c;
};

describe("RedisNodeDirectory", () => {
  it("lists the nodes that beat, with their load, and forgets one that stopped", async () => {
    const logger = pino({ level: "silent" });
    let liveOnA = 0;
    const a = new RedisNodeDirectory({
      redis: client(),
      logger,
      heartbeatMs: 100,
      prefix: "t1:",
      self: () => ({ ...node("a", liveOnA), draining: false }),
    });
    const b = new RedisNodeDirectory({
      redis: client(),
      logger,
      heartbeatMs: 100,
      prefix: "t1:",
      self: () => node("b", 1),
    });
    await Promise.all([a.start(), b.start()]);
    await expect.poll(async () => (await a.list()).map((n) => n.nodeId).sort()).toEqual(["a", "b"]);
    liveOnA = 7;
    await a.beat();
    expect((await b.list()).find((n) => n.nodeId === "a")?.liveSessions).toBe(7);
    b.close();
    await expect.poll(async () => (await a.list()).map((n) => n.nodeId)).toEqual(["a"]);
    a.close();
  });

  it("drops a node whose heartbeat stopped without a goodbye", async () => {
    const logger = pino({ level: "silent" });
    const crashed = client();
    const a = new RedisNodeDirectory({
      redis: crashed,
      logger,
      heartbeatMs: 100,
      prefix: "t2:",
      self: () => node("a", 0),
    });
    const observer = new RedisNodeDirectory({
      redis: client(),
      logger,
      heartbeatMs: 100,
      prefix: "t2:",
      self: () => node("o", 0),
    });
    await Promise.all([a.start(), observer.start()]);
    await expect.poll(async () => (await observer.list()).length).toBe(2);
    crashed.disconnect(); // no more beats, no clean removal
    await expect.poll(async () => (await observer.list()).map((n) => n.nodeId), { timeout: 5_000 }).toEqual(["o"]);
    a.close();
    observer.close();
  });
});
