import type { VoiceConversation } from "@parley/inference-bridge";
import type { CustomerMedia } from "@parley/media";
import { EndReason, type LiveEnvelope } from "@parley/proto/live";
import type { ResumableSession } from "@parley/records";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { liveTopic } from "../src/live/LiveBus.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import type { AudioClock } from "../src/session/AudioClock.ts";
import type { Session } from "../src/session/Session.ts";
import { SessionRegistry } from "../src/session/SessionRegistry.ts";

const logger = pino({ level: "silent" });
const store = { code: "demo", businessId: "b1", name: "Demo", language: "en", currency: "SEK" };
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function registry(options: { unjoinedTtlMs?: number; sweepIntervalMs?: number; maxDurationMs?: number } = {}) {
  const bus = new LocalLiveBus(logger);
  const events: LiveEnvelope[] = [];
  const unsubscribe = bus.subscribe(liveTopic.admin, (message) => events.push(message.envelope));
  const sessions = new SessionRegistry({
    logger,
    bus,
    nodeId: "n1",
    unjoinedTtlMs: options.unjoinedTtlMs ?? 60_000,
    maxDurationMs: options.maxDurationMs ?? 60_000,
    ...(options.sweepIntervalMs ? { sweepIntervalMs: options.sweepIntervalMs } : {}),
  });
  cleanups.push(() => {
    void sessions.closeAll(EndReason.SHUTDOWN, 0);
    unsubscribe();
    bus.close();
  });
  const ended = () => events.filter((e) => e.event?.kind.case === "conversationEnded").map((e) => e.sessionId);
  const endReasons = () =>
    events.flatMap((e) => (e.event?.kind.case === "conversationEnded" ? [e.event.kind.value.reason] : []));
  const startedAt = (id: string) =>
    events.flatMap((e) =>
      e.sessionId === id && e.event?.kind.case === "sessionStarted" ? [Number(e.event.kind.value.startedAtMs)] : [],
    );
  return { sessions, ended, endReasons, startedAt };
}

/** Starts a conversation whose graceful end (last words, final score) takes `endMs`, or fails. */
function startConversation(
  sessions: SessionRegistry,
  id: string,
  end: () => Promise<void>,
  resumed?: ResumableSession,
): Session {
  const session = sessions.create(id, store, undefined, resumed);
  sessions.begin(session, (s) => {
    s.begin();
    const conversation = { end, endNow() {}, close() {}, transcript: { finalText: () => "" } };
    s.attachParts(
      { close() {}, audioStats: undefined } as unknown as CustomerMedia,
      conversation as unknown as VoiceConversation,
      () => {},
      {} as AudioClock,
    );
  });
  return session;
}

const after = (ms: number) => () => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("SessionRegistry", () => {
  it("waits, at shutdown, for the ends already under way: their end reaches the bus before it closes", async () => {
    const { sessions, ended } = registry();
    const hungUp = startConversation(sessions, "hung-up", after(1_000));
    startConversation(sessions, "live", after(60_000));
    const ending = sessions.end(hungUp, EndReason.CUSTOMER, true); // the customer hung up; last words pending
    expect(sessions.size).toBe(1);
    expect(sessions.ending).toBe(1);
    await sessions.closeAll(EndReason.SHUTDOWN);
    // The live one ended at once (no last words), the hung-up one with its own end, before closeAll returned.
    expect(ended().sort()).toEqual(["hung-up", "live"]);
    expect(sessions.ending).toBe(0);
    await ending;
  });

  it("stops waiting for ends under way after the settle time", async () => {
    const { sessions, ended } = registry();
    const slow = startConversation(sessions, "slow", after(30_000));
    void sessions.end(slow, EndReason.CUSTOMER, true);
    await sessions.closeAll(EndReason.SHUTDOWN, 200);
    expect(ended()).toEqual([]);
    expect(sessions.ending).toBe(1);
  });

  it("ends a session whose last turn fails: no rejection, the end still published", async () => {
    const { sessions, ended } = registry();
    const broken = startConversation(sessions, "broken", () => Promise.reject(new Error("scorer exploded")));
    await expect(sessions.end(broken, EndReason.CUSTOMER, true)).resolves.toBeUndefined();
    expect(sessions.ending).toBe(0);
    expect(sessions.get("broken")).toBeUndefined();
    expect(ended()).toEqual(["broken"]);
  });

  it("ends only the session it is given: a late end of one taken up again under its id leaves the new one", async () => {
    const { sessions, endReasons } = registry();
    const first = startConversation(sessions, "same-id", async () => {});
    await sessions.end(first, EndReason.CUSTOMER, true);
    const again = startConversation(sessions, "same-id", async () => {});
    // The first conversation's own end is told after its session ended (it ended by itself meanwhile).
    await sessions.end(first, EndReason.SILENCE, true);
    expect(sessions.get("same-id")).toBe(again);
    expect(again.ended).toBe(false);
    expect(endReasons()).toEqual([EndReason.CUSTOMER]);
  });

  it("gives a conversation resumed after its node restarted only what is left of its maximum duration", async () => {
    const { sessions, endReasons, startedAt } = registry({ maxDurationMs: 60_000 });
    const resumed = {
      sessionId: "resumed",
      storeCode: store.code,
      nodeId: "n0",
      startedAtMs: Date.now() - 59_700, // 300 ms of its minute left
      segments: [],
      askedQuestions: [],
      maxSeq: 0n,
    };
    const session = startConversation(sessions, "resumed", async () => {}, resumed);
    // Walls show it started when it first did, as records keep it, not at the resume.
    expect(startedAt("resumed")).toEqual([resumed.startedAtMs]);
    await expect.poll(() => sessions.get(session.id), { timeout: 10_000 }).toBeUndefined();
    expect(endReasons()).toEqual([EndReason.MAX_DURATION]);
  });

  it("sweeps a session nobody joined, and keeps one a socket holds though its media has not started", async () => {
    const { sessions } = registry({ unjoinedTtlMs: 200, sweepIntervalMs: 100 });
    const abandoned = sessions.create("abandoned", store);
    const joined = sessions.create("joined", store);
    joined.attach({ detach() {} });
    await expect.poll(() => sessions.get(abandoned.id), { timeout: 5_000 }).toBeUndefined();
    expect(sessions.get(joined.id)).toBe(joined);
    expect(sessions.size).toBe(1);
  });
});
