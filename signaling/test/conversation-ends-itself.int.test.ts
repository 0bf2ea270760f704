// A conversation that ends by itself (the AI ends it after a silence, or its
// speech recognition fails for good) ends its session on the node at once,
// whatever the customer's app does: its slots, media and speech capacity are
// given back, exactly one ConversationEnded goes out, and the customer's
// socket stays for the reward that follows. Real node, real mediasoup, the
// real speech worker.
import { AsrWorkerProcess } from "@parley/inference-bridge";
import { librivoxRecordings, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { EndReason, type LiveEvent, StreamState } from "@parley/proto/live";
import { type ServerMessage, TransportDirection } from "@parley/proto/ws";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { liveTopic } from "../src/live/LiveBus.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(env: Record<string, string>, retry?: Parameters<typeof startServer>[1]) {
  const s = await startServer(env, retry);
  cleanups.push(() => s.close());
  return s;
}

/** Every live event the node publishes for `sessionId`, as every subscriber (records, walls) hears it. */
function published(s: ParleyServer, sessionId: string): LiveEvent[] {
  const events: LiveEvent[] = [];
  cleanups.push(
    s.bus.subscribe(liveTopic.admin, ({ envelope }) => {
      if (envelope.sessionId === sessionId && envelope.event) events.push(envelope.event);
    }),
  );
  return events;
}

const eventOf = (m: ServerMessage) => (m.kind.case === "event" ? m.kind.value.kind : undefined);
const ends = (events: (LiveEvent["kind"] | undefined)[]) =>
  events.flatMap((k) => (k?.case === "conversationEnded" ? [k.value] : []));

/** The session is gone from the node, and with it everything it held. */
async function expectReleased(s: ParleyServer, sessionId: string, clientIp: string): Promise<void> {
  await expect.poll(() => s.sessions.get(sessionId), { timeout: 30_000 }).toBeUndefined();
  expect(s.sessions.size).toBe(0);
  expect(s.sessions.recent(sessionId)?.ended).toBe(true);
  await expect.poll(() => s.clientLimits.sessions.held(clientIp), { timeout: 10_000 }).toBe(0);
  await expect.poll(() => s.mediaPool.describe()[0]?.sessions, { timeout: 10_000 }).toBe(0);
  await expect.poll(async () => (await s.mediaPool.transportCounts())[0]?.transports, { timeout: 10_000 }).toBe(0);
  await expect.poll(() => s.asrPool.workers.reduce((n, w) => n + w.activeStreams, 0), { timeout: 10_000 }).toBe(0);
}

describe("a conversation that ends by itself", () => {
  it("ends its session on the node when the AI ends it after a silence, without the app hanging up", async () => {
    const s = await server({ END_SILENCE_MS: "3000" });
    const { token, sessionId } = await createSession(s);
    const events = published(s, sessionId);
    const socket = await TestSocket.open(s);
    cleanups.push(() => socket.close());
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    // The customer's microphone transport, as the app sets it up (the customer then says nothing).
    const created = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
    const media = s.sessions.get(sessionId)!.media!;
    expect((await s.mediaPool.transportCounts())[0]?.transports).toBeGreaterThan(0);
    const clientIp = "127.0.0.1";
    expect(s.clientLimits.sessions.held(clientIp)).toBe(1);

    const ended = eventOf(await socket.waitFor((m) => eventOf(m)?.case === "conversationEnded", 30_000)) as Extract<
      LiveEvent["kind"],
      { case: "conversationEnded" }
    >;
    expect(ended.value.reason).toBe(EndReason.SILENCE);

    // The app sends no endSession: the node ends the session itself.
    await expectReleased(s, sessionId, clientIp);
    expect(media.closed).toBe(true);
    // The customer's socket stays for what follows the end: the reward decision reaches it.
    await socket.waitFor((m) => eventOf(m)?.case === "reward", 30_000);
    expect(socket.closed).toBeUndefined();
    // The media is gone for the customer too; the app's own "end it", sent when it sees the end, is done.
    const transport = await socket.request({ case: "createTransport", value: { direction: TransportDirection.RECV } });
    expect(transport.case).toBe("error");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    // One end, with the AI's reason, for the customer and for every subscriber.
    expect(ends(socket.messages.map(eventOf)).map((e) => e.reason)).toEqual([EndReason.SILENCE]);
    expect(ends(events.map((e) => e.kind)).map((e) => e.reason)).toEqual([EndReason.SILENCE]);
    // Its token is dead: joining again is refused.
    const again = await TestSocket.open(s);
    cleanups.push(() => again.close());
    const rejoined = await again.request({ case: "join", value: { token } });
    expect(rejoined.case).toBe("error");
  }, 90_000);

  it("ends its session on the node when speech recognition fails for good, with what was said", async () => {
    const worker = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), workerId: "only" });
    cleanups.push(() => worker.stop());
    // One worker and one retry: its death is the end of recognition for this conversation.
    const s = await server({ ASR_WORKERS: worker.address }, { maxRetry: 1, retryIntervalMs: 50, timeoutMs: 2_000 });
    const c = await WeriftCustomer.connect(s);
    cleanups.push(() => c.close());
    const events = published(s, c.sessionId);
    const [recording] = librivoxRecordings().sort((a, b) => b.seconds - a.seconds);
    const speech = opusPacketsFromFile(recording!.wav, 0.5);
    await c.play(speech.slice(0, 150)); // 3 s: the stream is open and words come
    await c.socket.waitFor((m) => eventOf(m)?.case === "transcript", 30_000);
    expect(s.clientLimits.sessions.held("127.0.0.1")).toBe(1);

    worker.kill("SIGKILL");
    const playing = c.play(speech.slice(150, 400)); // the customer goes on talking
    await c.socket.waitFor((m) => {
      const k = eventOf(m);
      return k?.case === "status" && k.value.state === StreamState.FAILED;
    }, 30_000);
    const ended = eventOf(await c.socket.waitFor((m) => eventOf(m)?.case === "conversationEnded", 60_000)) as Extract<
      LiveEvent["kind"],
      { case: "conversationEnded" }
    >;
    expect(ended.value.reason).toBe(EndReason.SPEECH_LOST);
    expect(ended.value.finalScore).toBeDefined(); // what was said before the failure is scored

    await expectReleased(s, c.sessionId, "127.0.0.1");
    await playing;
    await c.socket.waitFor((m) => eventOf(m)?.case === "reward", 30_000);
    expect(c.socket.closed).toBeUndefined();
    expect(ends(c.socket.messages.map(eventOf)).map((e) => e.reason)).toEqual([EndReason.SPEECH_LOST]);
    expect(ends(events.map((e) => e.kind)).map((e) => e.reason)).toEqual([EndReason.SPEECH_LOST]);
  }, 120_000);
});
