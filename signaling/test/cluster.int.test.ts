// Several nodes sharing one real Redis and one database: a session goes to
// the node with room and the customer's socket reaches the node that owns
// its media; a draining node takes no new sessions and lets live ones
// finish; rate limits count across nodes.
import { freePort } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/ws";
import { createDatabaseAt } from "@parley/records/testing";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";
import { startNodeProcess } from "./node-process.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let databaseUrl: string;
const nodes: ParleyServer[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
  databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
});
afterAll(async () => {
  await redis?.stop();
});

/** A node of the cluster; the first one seeds the shared database, all share one speech worker. */
async function node(name: string, env: Record<string, string> = {}): Promise<ParleyServer> {
  const asr = nodes[0]?.embeddedAsr?.address;
  const n = await startServer({
    REDIS_URL: redis.url,
    NODE_ID: `${name}-${Date.now()}`,
    DATABASE_URL: databaseUrl,
    // Nodes sharing a speech worker share its secret (each node's own embedded worker would otherwise ask for a random one).
    ASR_AUTH_TOKEN: "cluster-test-speech-secret",
    ...(asr ? { ASR_WORKERS: asr } : {}),
    ...env,
  });
  nodes.push(n);
  return n;
}

const joinAt = async (url: string, token: string) => {
  const socket = await TestSocket.open({ url: "" }, url);
  const result = await socket.request({ case: "join", value: { token } });
  return { socket, result };
};

describe("a cluster of nodes", () => {
  it("places a session on the node with room; the customer's socket reaches it by redirect or directly", async () => {
    const full = await node("full", { NODE_MAX_SESSIONS: "0" });
    const roomy = await node("roomy");
    await expect.poll(async () => (await full.nodes.list()).length).toBe(2);

    const created = await createSession(full);
    expect(created.wsUrl).toBe(`${roomy.url.replace("http", "ws")}/ws`);
    expect(full.sessions.get(created.sessionId)).toBeUndefined();

    // A socket that reaches the wrong node is told where the session lives.
    const wrong = await joinAt(`${full.url.replace("http", "ws")}/ws`, created.token);
    expect(wrong.result).toMatchObject({
      case: "error",
      value: { code: ErrorCode.WRONG_NODE, redirectUrl: created.wsUrl },
    });
    wrong.socket.close();

    // The node that owns the session picks it up at the join, once.
    const right = await joinAt(created.wsUrl!, created.token);
    expect(right.result.case).toBe("joined");
    expect(roomy.sessions.get(created.sessionId)).toBeDefined();
    expect((await right.socket.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe(
      "routerRtpCapabilities",
    );
    expect((await right.socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    right.socket.close();
  });

  it("a draining node is not ready, hands new sessions to others, and exits once its sessions ended", async () => {
    const leaving = await node("leaving");
    const staying = await node("staying");
    await expect.poll(async () => (await leaving.nodes.list()).length).toBe(2);
    const live = await createSession(leaving);
    expect(live.wsUrl).toBeUndefined(); // a tie: the node that was asked keeps it
    const customer = await joinAt(`${leaving.url.replace("http", "ws")}/ws`, live.token);
    expect(customer.result.case).toBe("joined");

    const drained = leaving.drain(60_000);
    expect((await fetch(`${leaving.internalUrl}/ready`)).status).toBe(503);
    const next = await createSession(leaving);
    expect(next.wsUrl).toBe(`${staying.url.replace("http", "ws")}/ws`);
    // The live conversation goes on until the customer ends it; then the node exits.
    expect((await customer.socket.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe(
      "routerRtpCapabilities",
    );
    expect(leaving.sessions.size).toBe(1);
    expect((await customer.socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    await drained;
    await expect.poll(async () => (await staying.nodes.list()).map((n) => n.nodeId)).toEqual([staying.config.nodeId]);
    customer.socket.close();
  });

  it("never sends customers to a node without an address of its own, nor runs its session twice", async () => {
    // Listening beyond loopback without NODE_PUBLIC_URL (a pod behind a load balancer): only the
    // load balancer knows how customers reach it.
    const hidden = await node("hidden", { HOST: "0.0.0.0" });
    const full = await node("full", { NODE_MAX_SESSIONS: "0" });
    await expect.poll(async () => (await full.nodes.list()).length).toBe(2);
    const seen = (await full.nodes.list()).find((n) => n.nodeId === hidden.config.nodeId);
    expect(seen?.publicUrl).toBeNull();
    const refused = await fetch(`${full.url}/api/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
    });
    // Refused for want of a node customers can be sent to, rather than a redirect nobody outside can follow.
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toMatch(/no node can take a conversation/);

    // Its own customers it serves; one who reaches another node is told to try again (the load
    // balancer's affinity brings them back), and the other node does not take the session over.
    const own = await createSession(hidden);
    expect(own.wsUrl).toBeUndefined();
    const customer = await joinAt(`${hidden.url.replace("http", "ws")}/ws`, own.token);
    expect(customer.result.case).toBe("joined");
    await expect
      .poll(async () => (await hidden.records.resumable(own.sessionId, 60_000))?.nodeId)
      .toBe(hidden.config.nodeId);
    const elsewhere = await joinAt(`${full.url.replace("http", "ws")}/ws`, own.token);
    expect(elsewhere.result).toMatchObject({ case: "error", value: { code: ErrorCode.UNAVAILABLE } });
    expect(full.sessions.get(own.sessionId)).toBeUndefined();
    elsewhere.socket.close();
    customer.socket.close();
  });

  it("takes up a conversation placed on a node that then crashed, when its customer reaches another node", async () => {
    // The node the conversation is placed on runs as its own process, to be killed as a crash would.
    const adopter = await node("adopter", { NODE_MAX_SESSIONS: "1" });
    const crashing = await startNodeProcess({
      port: await freePort(),
      databaseUrl,
      asrAddress: adopter.embeddedAsr!.address,
      env: { REDIS_URL: redis.url, NODE_ID: `crashing-${Date.now()}`, ASR_AUTH_TOKEN: "cluster-test-speech-secret" },
    });
    try {
      await expect.poll(async () => (await adopter.nodes.list()).length).toBe(2);
      // Created on the node with less room: placed on the other one, which the customer joins.
      const customer = await WeriftCustomer.connect(adopter);
      expect(adopter.sessions.get(customer.sessionId)).toBeUndefined();
      const [recording] = librivoxRecordings();
      await customer.play(opusPacketsFromFile(recording!.wav, 0.5).slice(0, 100));
      await expect
        .poll(async () => (await adopter.records.resumable(customer.sessionId, 60_000))?.nodeId)
        .toMatch(/^crashing-/);
      crashing.kill("SIGKILL");
      await new Promise((r) => crashing.once("exit", r));
      // Gone from the directory once its heartbeat expires; the customer's app reaches another node.
      await expect.poll(async () => (await adopter.nodes.list()).length, { timeout: 15_000 }).toBe(1);
      await customer.rejoin(`${adopter.url.replace("http", "ws")}/ws`);
      expect(adopter.sessions.get(customer.sessionId)).toBeDefined();
      expect((await customer.socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
      await customer.close();
    } finally {
      crashing.kill("SIGKILL");
    }
  }, 90_000);

  it("refuses a session when every node is draining or full", async () => {
    const only = await node("only", { NODE_MAX_SESSIONS: "0" });
    const res = await fetch(`${only.url}/api/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
    });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
  });

  it("counts session creation per client across nodes", async () => {
    // One client (a fresh address behind a trusted proxy) asks two nodes in turn.
    const env = {
      RATE_LIMIT_MAX_REQUESTS: "2",
      RATE_LIMIT_MAX_REQUESTS_PER_STORE: "1000",
      TRUSTED_PROXIES: "127.0.0.1",
    };
    const a = await node("rate-a", env);
    const b = await node("rate-b", env);
    const post = (n: ParleyServer) =>
      fetch(`${n.url}/api/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.7" },
        body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
      });
    expect((await post(a)).status).toBe(201);
    expect((await post(b)).status).toBe(201);
    const third = await post(a);
    expect(third.status).toBe(429);
    expect(Number(third.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("counts a client's open sessions on the node that holds them, wherever they were created", async () => {
    // Every session is created on a full node and placed on the other, which allows one per client.
    const env = { SESSIONS_MAX_PER_IP: "1", TRUSTED_PROXIES: "127.0.0.1" };
    const full = await node("cap-full", { ...env, NODE_MAX_SESSIONS: "0" });
    const owner = await node("cap-owner", env);
    await expect.poll(async () => (await full.nodes.list()).length).toBe(2);
    const create = async () => {
      const res = await fetch(`${full.url}/api/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-forwarded-for": "198.51.100.9" },
        body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
      });
      expect(res.status).toBe(201);
      return (await res.json()) as { token: string; wsUrl: string };
    };
    const first = await create();
    const second = await create(); // the creating node holds neither, so it cannot tell
    expect(second.wsUrl).toBe(`${owner.url.replace("http", "ws")}/ws`);
    const one = await joinAt(first.wsUrl, first.token);
    expect(one.result.case).toBe("joined");
    const two = await joinAt(second.wsUrl, second.token);
    expect(two.result).toMatchObject({ case: "error", value: { code: ErrorCode.RATE_LIMITED } });
    two.socket.close();
    expect((await one.socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    one.socket.close();
    // The refused session was kept for its customer: once the first ended, it joins.
    const again = await joinAt(second.wsUrl, second.token);
    expect(again.result.case).toBe("joined");
    again.socket.close();
  });

  it("does not take a conversation over while Redis cannot say whether its node is alive", async () => {
    const a = await node("owner");
    const b = await node("other");
    const { token, sessionId } = await createSession(a);
    const customer = await joinAt(`${a.url.replace("http", "ws")}/ws`, token);
    expect(customer.result.case).toBe("joined");
    await expect
      .poll(async () => (await b.records.resumable(sessionId, 60_000))?.nodeId, { timeout: 15_000 })
      .toBe(a.config.nodeId);
    await redis.kill();
    try {
      // The customer reaches the other node (their connection dropped, the load balancer chose B).
      const elsewhere = await joinAt(`${b.url.replace("http", "ws")}/ws`, token);
      expect(elsewhere.result).toMatchObject({
        case: "error",
        value: { code: ErrorCode.UNAVAILABLE, retryable: true },
      });
      elsewhere.socket.close();
      expect(b.sessions.get(sessionId)).toBeUndefined();
      expect(a.sessions.get(sessionId)?.ended).toBe(false);
    } finally {
      await redis.start();
      customer.socket.close();
    }
  });
});
