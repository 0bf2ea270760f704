// Two nodes on one real Redis and one database whose speech workers speak
// different languages: node A has only the embedded pocketsphinx worker
// (en-US), node B only a worker that recognises Swedish (a real gRPC test
// double). Each node publishes its languages in the node directory, and a
// session is placed only on a node that recognises its store's language,
// whichever node the customer asked; a language no node recognises is still
// refused for good (422).
import { createDatabaseAt } from "@parley/records/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { RecordingRecognizer } from "../../inference-bridge/test/recording-recognizer.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { addStore, startServer, TestSocket } from "./harness.ts";
import { RedisServer } from "./redis-server.ts";

let redis: RedisServer;
let swedishWorker: RecordingRecognizer;
let english: ParleyServer;
let swedish: ParleyServer;

beforeAll(async () => {
  redis = await RedisServer.start();
  const databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
  swedishWorker = new RecordingRecognizer();
  swedishWorker.languages = ["sv-SE"];
  await swedishWorker.start();
  const env = { REDIS_URL: redis.url, DATABASE_URL: databaseUrl };
  english = await startServer({ ...env, NODE_ID: `english-${Date.now()}` });
  swedish = await startServer({ ...env, NODE_ID: `swedish-${Date.now()}`, ASR_WORKERS: swedishWorker.address });
  await addStore(english, "sodermalm", "sv-SE");
  await addStore(english, "helsinki", "fi-FI");
}, 120_000);
afterAll(async () => {
  await english?.close();
  await swedish?.close();
  await swedishWorker?.stop();
  await redis?.stop();
});

const create = (node: ParleyServer, storeCode: string) =>
  fetch(`${node.url}/api/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ storeCode, consent: { given: true, version: "test-1" } }),
  });

const wsOf = (node: ParleyServer) => `${node.url.replace("http", "ws")}/ws`;

/** Both nodes see each other with the languages their workers listed. */
async function bothKnown(): Promise<void> {
  for (const asker of [english, swedish]) {
    await expect
      .poll(async () => Object.fromEntries((await asker.nodes.list()).map((n) => [n.nodeId, n.languages])))
      .toEqual({ [english.config.nodeId]: ["en"], [swedish.config.nodeId]: ["sv"] });
  }
}

describe("placement by the store's language across nodes", () => {
  it("places a Swedish store's customer who reached the English-only node on the node that recognises Swedish", async () => {
    await bothKnown();
    const res = await create(english, "sodermalm");
    expect(res.status).toBe(201);
    const created = (await res.json()) as { sessionId: string; token: string; wsUrl?: string };
    expect(created.wsUrl).toBe(wsOf(swedish));
    expect(english.sessions.get(created.sessionId)).toBeUndefined();

    const socket = await TestSocket.open({ url: "" }, created.wsUrl!);
    try {
      expect((await socket.request({ case: "join", value: { token: created.token } })).case).toBe("joined");
      expect(swedish.sessions.get(created.sessionId)?.store.language).toBe("sv-SE");
      expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    } finally {
      socket.close();
    }
  });

  it("keeps a Swedish store's customer on the Swedish node even when the English node has more room", async () => {
    await bothKnown();
    // Fill one of the Swedish node's places: the English node now has the most room.
    const first = (await (await create(swedish, "sodermalm")).json()) as { sessionId: string; wsUrl?: string };
    expect(first.wsUrl).toBeUndefined();
    expect(swedish.sessions.get(first.sessionId)).toBeDefined();
    const res = await create(swedish, "sodermalm");
    expect(res.status).toBe(201);
    expect(((await res.json()) as { wsUrl?: string }).wsUrl).toBeUndefined();
  });

  it("sends an English store's customer who reached the Swedish-only node to the English one", async () => {
    await bothKnown();
    const res = await create(swedish, "demo");
    expect(res.status).toBe(201);
    expect(((await res.json()) as { wsUrl?: string }).wsUrl).toBe(wsOf(english));
  });

  it("still refuses for good a language no node recognises, on either node", async () => {
    await bothKnown();
    for (const node of [english, swedish]) {
      const res = await create(node, "helsinki");
      expect(res.status).toBe(422);
      expect(res.headers.get("retry-after")).toBeNull();
      expect(await res.json()).toMatchObject({ reason: "language_unsupported", language: "fi-FI" });
    }
  });

  it("asks to try again, not refuses for good, while the only node that recognises the language is draining", async () => {
    await bothKnown();
    const drained = swedish.drain(60_000);
    await expect
      .poll(async () => (await english.nodes.list()).find((n) => n.nodeId === swedish.config.nodeId)?.draining)
      .toBe(true);
    const res = await create(english, "sodermalm");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    await swedish.close(); // the drain waits for no one
    await drained;
  });
});
