// The node's shared-state connection to a real Redis through a silent network
// partition: a command sent into it is answered on a new connection instead
// of waiting for as long as TCP takes to give up (every session creation
// waits on its rate-limit count).
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { sharedStateRedis } from "../src/cluster/sharedStateRedis.ts";
import { RedisRateLimiter } from "../src/edge/RedisRateLimiter.ts";
import { PartitionProxy } from "./partitionProxy.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let proxy: PartitionProxy;
beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await PartitionProxy.start(redis.port);
});
afterAll(async () => {
  await proxy?.close();
  await redis?.stop();
});

it("answers commands sent into a silent partition on a new connection", async () => {
  const lines: { msg: string; err?: string }[] = [];
  const logger = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const client = sharedStateRedis({ url: proxy.url, nodeId: "node-p", logger, replyTimeoutMs: 500 });
  try {
    if (client.status !== "ready") await new Promise((resolve) => client.once("ready", resolve));
    const limiter = new RedisRateLimiter({ name: "partition", windowMs: 60_000, max: 100, redis: client, logger });
    expect((await limiter.consume("203.0.113.9")).allowed).toBe(true);
    proxy.blackHole();
    // Both sent into the partition; answered once the client has given up on that connection.
    expect(await client.incr("parley:test:partition")).toBe(1);
    expect((await limiter.consume("203.0.113.9")).allowed).toBe(true);
    expect(lines.some((l) => l.msg === "redis (shared state) error")).toBe(true);
  } finally {
    client.disconnect();
  }
});
