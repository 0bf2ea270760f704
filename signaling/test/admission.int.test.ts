// Speech capacity is admitted, not assumed: with the embedded worker limited
// to 2 streams, sockets that join and stay silent hold no recogniser, two
// talking customers are served, and a third is refused before it talks, with
// the typed UNAVAILABLE error and a retry hint (or, asking later, with 503
// at session creation). A node never holds more than NODE_MAX_SESSIONS, however
// many creations race for its last room. Real WebRTC customers (werift), real pocketsphinx.
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { ErrorCode, type ServerMessage, TransportDirection } from "@parley/proto/ws";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { register } from "../src/metrics.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";

let server: ParleyServer;
const closers: (() => unknown)[] = [];
/** The node's warnings and errors, as JSON lines. */
const logLines: Record<string, unknown>[] = [];
beforeAll(async () => {
  const logger = pino({ level: "warn" }, { write: (line: string) => void logLines.push(JSON.parse(line)) });
  server = await startServer({ ASR_EMBEDDED_MAX_STREAMS: "2" }, undefined, logger);
}, 60_000);

/** asr_admissions_total for one outcome, as /metrics shows it. */
async function admissions(outcome: string): Promise<number> {
  const metric = await register.getSingleMetric("asr_admissions_total")?.get();
  return metric?.values.find((v) => v.labels.outcome === outcome)?.value ?? 0;
}
afterAll(async () => {
  for (const c of closers.splice(0).reverse()) await c();
  await server?.close();
});

const someDtls = { role: "client", fingerprints: [{ algorithm: "sha-256", value: Array(32).fill("AB").join(":") }] };
const finals = (messages: ServerMessage[]) =>
  messages.flatMap((m) =>
    m.kind.case === "event" && m.kind.value.kind.case === "transcript" && m.kind.value.kind.value.isFinal
      ? [m.kind.value.kind.value.text]
      : [],
  );

async function joined() {
  const { token } = await createSession(server);
  const socket = await TestSocket.open(server);
  closers.push(() => socket.ws.terminate());
  expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
  return socket;
}

describe("speech admission", () => {
  it("holds no recogniser for sockets that join and send nothing", async () => {
    const silent = [await joined(), await joined(), await joined()];
    for (const s of silent)
      expect((await s.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe("routerRtpCapabilities");
    const worker = server.asrPool.workers[0]!;
    expect((await worker.info(5_000)).activeStreams).toBe(0); // asked of the worker itself, now
    expect(worker.activeStreams + worker.reserved).toBe(0);
    for (const s of silent) s.close();
    await expect.poll(() => server.sessions.size, { timeout: 5_000 }).toBe(0);
  });

  it("gives the slot back when a produce fails, so a client asking with bad requests holds no capacity", async () => {
    const asker = await joined();
    const worker = server.asrPool.workers[0]!;
    for (let i = 0; i < 3; i++) {
      const refused = await asker.request({
        case: "produce",
        value: {
          transportId: "no-such-transport",
          kind: "audio",
          rtpParameters: {
            mid: "0",
            codecs: [{ mimeType: "audio/opus", payloadType: 111, clockRate: 48_000, channels: 2 }],
            encodings: [{ ssrc: 4321 }],
            rtcp: { cname: "asker" },
          },
        },
      });
      expect(refused.case).toBe("error");
      expect(worker.reserved).toBe(0);
    }
    asker.close();
    await expect.poll(() => server.sessions.size, { timeout: 5_000 }).toBe(0);
  });

  it("counts and logs a session refused at creation because every speech worker is busy", async () => {
    const worker = server.asrPool.workers[0]!;
    await worker.probe(5_000, 0); // its capacity is known: 2 streams
    const held = [server.asrPool.reserve(60_000), server.asrPool.reserve(60_000)];
    try {
      expect(held.every((r) => r !== undefined)).toBe(true);
      const refusedBefore = await admissions("refused");
      const res = await fetch(`${server.url}/api/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ error: expect.stringMatching(/every speech worker is busy/) });
      expect(await admissions("refused")).toBe(refusedBefore + 1);
      expect(logLines).toContainEqual(
        expect.objectContaining({
          level: 40,
          storeCode: "demo",
          reason: "speech_busy",
          msg: "session refused: every speech worker is busy",
        }),
      );
    } finally {
      for (const r of held) r?.release();
    }
  });

  it("serves two talking customers and refuses the third before it talks, with UNAVAILABLE and a retry hint", async () => {
    // The third customer's session exists before the room runs out; it asks for its microphone last.
    const third = await joined();
    const created = await third.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
    await third.request({
      case: "connectTransport",
      value: { transportId: created.value.id, dtlsParameters: someDtls },
    });

    const talkers = [await WeriftCustomer.connect(server), await WeriftCustomer.connect(server)];
    for (const t of talkers) closers.push(() => t.close());
    const produced = await third.request({
      case: "produce",
      value: {
        transportId: created.value.id,
        kind: "audio",
        rtpParameters: {
          mid: "0",
          codecs: [{ mimeType: "audio/opus", payloadType: 111, clockRate: 48_000, channels: 2 }],
          encodings: [{ ssrc: 1234 }],
          rtcp: { cname: "third" },
        },
      },
    });
    expect(produced.case).toBe("error");
    expect(produced.value).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true, retryAfterMs: 5_000 });
    expect((produced.value as { message: string }).message).toMatch(/busy/);
    // Asking for a session now is refused at once.
    const late = await fetch(`${server.url}/api/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
    });
    expect(late.status).toBe(503);
    expect(late.headers.get("retry-after")).toBe("5");

    // The two admitted customers talk and get their transcripts (however slowly a busy machine decodes).
    const [recording] = librivoxRecordings().sort((a, b) => a.seconds - b.seconds);
    const speech = opusPacketsFromFile(recording!.wav, 0.3).slice(0, 200);
    await Promise.all(talkers.map((t) => t.play([...speech, ...Array.from({ length: 30 }, () => speech[0]!)])));
    expect(server.asrPool.workers[0]!.activeStreams).toBe(2);
    for (const t of talkers) {
      await t.socket.waitFor(
        (m) => m.kind.case === "event" && m.kind.value.kind.case === "transcript" && m.kind.value.kind.value.isFinal,
        60_000,
      );
      expect(finals(t.socket.messages).join(" ").trim().length).toBeGreaterThan(0);
    }
  }, 150_000);
});

describe("node capacity", () => {
  it("never holds more than NODE_MAX_SESSIONS, however many creations race for the last room", async () => {
    // One client asks for all of them: its own cap must not be what refuses them.
    const small = await startServer({ NODE_MAX_SESSIONS: "2", SESSIONS_MAX_PER_IP: "100" });
    closers.push(() => small.close());
    // All of them are placed on the room that the first two take: each waits for the database after.
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        fetch(`${small.url}/api/sessions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
        }),
      ),
    );
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s === 201)).toHaveLength(2);
    expect(statuses.filter((s) => s === 503)).toHaveLength(18);
    for (const refused of answers.filter((a) => a.status === 503))
      expect(await refused.json()).toMatchObject({ error: expect.stringMatching(/no node can take/) });
    expect(small.sessions.size).toBe(2);
  });
});
