// A store whose language no speech worker recognises is refused at session
// creation, at once and for good (422, reason "language_unsupported"), before
// anything is stored: not admitted to talk for half a minute to a worker that
// refuses every stream. The node's only worker is the real embedded
// pocketsphinx one, which recognises en-US alone.
import { ErrorCode } from "@parley/proto/ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { addStore, createSession, startServer, TestSocket } from "./harness.ts";

let server: ParleyServer;
beforeAll(async () => {
  server = await startServer();
  await addStore(server, "sodermalm", "sv-SE");
}, 60_000);
afterAll(async () => {
  await server?.close();
});

const createFor = (storeCode: string) =>
  fetch(`${server.url}/api/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ storeCode, consent: { given: true, version: "test-1" } }),
  });

const storedSessions = async (storeCode: string) => {
  await server.records.writer.drain();
  const [row] = await server.records.sql<{ count: number }[]>`
    select count(*)::int as count from sessions s join stores st on st.id = s.store_id where st.code = ${storeCode}`;
  return row!.count;
};

describe("session creation by the store's language", () => {
  it("refuses a Swedish store on a node whose only speech worker speaks en-US, storing nothing", async () => {
    const worker = (await server.asrPool.probe())[0]!;
    expect(worker.info?.languages).toEqual(["en-US"]);
    const sessionsBefore = server.sessions.size;
    const res = await createFor("sodermalm");
    expect(res.status).toBe(422);
    expect(res.headers.get("retry-after")).toBeNull(); // waiting will not help
    const body = (await res.json()) as { error: string; reason: string; language: string };
    expect(body).toMatchObject({ reason: "language_unsupported", language: "sv-SE" });
    expect(body.error).toMatch(/Swedish/);
    expect(server.sessions.size).toBe(sessionsBefore);
    expect(server.asrPool.workers[0]!.reserved).toBe(0);
    expect(await storedSessions("sodermalm")).toBe(0);
  });

  it("still creates a session for an English store on the same node", async () => {
    const res = await createFor("demo");
    expect(res.status).toBe(201);
    const { sessionId } = (await res.json()) as { sessionId: string };
    expect(server.sessions.get(sessionId)).toBeDefined();
    await expect.poll(() => storedSessions("demo")).toBeGreaterThan(0);
    expect(await storedSessions("sodermalm")).toBe(0);
  });

  it("refuses the microphone for good, holding nothing, when a session's language is not recognised here", async () => {
    // Session creation refuses such a store; a session placed here by another node, or resumed
    // after a restart onto workers that speak other languages, reaches the produce. Its store is
    // set to Swedish in memory to stand for it.
    const { sessionId, token } = await createSession(server);
    const socket = await TestSocket.open(server);
    try {
      expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
      const session = server.sessions.get(sessionId)!;
      session.store.language = "sv-SE";
      const refused = await socket.request({
        case: "produce",
        value: {
          transportId: "any",
          kind: "audio",
          rtpParameters: {
            mid: "0",
            codecs: [{ mimeType: "audio/opus", payloadType: 111, clockRate: 48_000, channels: 2 }],
            encodings: [{ ssrc: 1234 }],
            rtcp: { cname: "sv" },
          },
        },
      });
      if (refused.case !== "error") throw new Error(`got ${refused.case}`);
      expect(refused.value).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: false });
      expect(refused.value.message).toMatch(/sv-SE/);
      expect(server.asrPool.workers[0]!.reserved).toBe(0);
    } finally {
      socket.close();
    }
  });
});
