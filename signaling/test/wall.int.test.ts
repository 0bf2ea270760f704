// The business wall and the admin monitor over a real conversation: a
// WebRTC customer (werift: real ICE, DTLS, SRTP) speaks recorded utterances
// through mediasoup and the real pocketsphinx worker, while dashboards of
// two businesses and an admin watch over the dashboard protocol.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { conversationWav, DashboardClient, opusPacketsFromFile, WeriftCustomer } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import { EndReason, type LiveEnvelope } from "@parley/proto/live";
import { type MonitorReport, Stage } from "@parley/proto/wall";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { addBusiness, demoBusiness, startServer } from "./harness.ts";

let server: ParleyServer;
const ids = { demo: "", acme: "" };
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  // Two businesses: the demo business (store demo) and Acme (store north).
  server = await startServer({ MAX_TURNS: "20", END_SILENCE_MS: "60000" });
  ids.demo = demoBusiness(server);
  ids.acme = await addBusiness(server, "Acme", "north");
}, 60_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await server?.close();
});

const token = (role: "owner" | "staff" | "admin", businessId?: string, storeCodes?: string[]) =>
  server.dashboardTokens.issue(
    {
      userId: `${role}-${businessId ?? "x"}`,
      role,
      ...(businessId ? { businessId } : {}),
      ...(storeCodes ? { storeCodes } : {}),
    },
    600_000,
  );

async function wall(
  t: string,
  subscribe: Parameters<typeof DashboardClient.subscribed>[2] = { case: "subscribe", value: {} },
) {
  const s = await DashboardClient.subscribed(server, t, subscribe);
  cleanups.push(() => s.client.close());
  return s;
}

const of = (live: LiveEnvelope[], sessionId: string) => live.filter((e) => e.sessionId === sessionId);
const kindOf = (e: LiveEnvelope) => e.event?.kind.case;
const finals = (live: LiveEnvelope[]) =>
  live.flatMap((e) => (e.event?.kind.case === "transcript" && e.event.kind.value.isFinal ? [e.event.kind.value] : []));

describe("the wall and the monitor over a real conversation", () => {
  it("shows a business its conversation live, another business nothing, and lets an admin end it", async () => {
    const demo = await wall(token("owner", ids.demo));
    const acme = await wall(token("owner", ids.acme));
    const acmeStaff = await wall(token("staff", ids.acme, ["north"]));
    const admin = await wall(token("admin"));
    expect((await admin.client.request({ case: "watchMonitor", value: { on: true } })).case).toBe("done");

    const customer = await WeriftCustomer.connect(server, "demo");
    cleanups.push(() => customer.close());
    const sessionId = customer.sessionId;
    const talk = conversationWav(mkdtempSync(path.join(tmpdir(), "parley-wall-")));
    let speaking = true;
    const speech = opusPacketsFromFile(talk.wav);
    let lastSent = -1;
    const playing = customer.play(speech, (i) => (lastSent = i)).then(() => (speaking = false));

    // The business sees the transcript, then a score, while the customer still speaks.
    await demo.client.waitFor(
      (m) => m.kind.case === "live" && m.kind.value.sessionId === sessionId && finals([m.kind.value]).length > 0,
      40_000,
    );
    await demo.client.waitFor(
      (m) => m.kind.case === "live" && m.kind.value.sessionId === sessionId && kindOf(m.kind.value) === "score",
      40_000,
    );
    expect(speaking).toBe(true);

    // A wall that connects now gets the transcript so far, then the rest.
    const late = await wall(token("owner", ids.demo));
    const snapshot = of(late.snapshot.live, sessionId);
    expect(kindOf(snapshot[0]!)).toBe("sessionStarted");
    const earlyFinals = new Map(finals(of(demo.client.live(), sessionId)).map((s) => [s.segmentId, s.text]));
    for (const s of finals(snapshot)) expect(earlyFinals.get(s.segmentId)).toBe(s.text);
    expect(finals(snapshot).length).toBeGreaterThan(0);

    // The admin's monitor: the session with the producer's stats and the bridge's figures.
    const report = (
      await admin.client.waitFor(
        (m) =>
          m.kind.case === "monitor" &&
          m.kind.value.sessions.some(
            (s) => s.sessionId === sessionId && s.packetsReceived > 0n && s.stage >= Stage.TRANSCRIBING,
          ) &&
          // The worker is probed at most once a second: a report from just
          // before the stream opened may still show it idle.
          m.kind.value.speechWorkers.some((w) => w.activeStreams > 0),
        20_000,
      )
    ).kind.value as MonitorReport;
    const health = report.sessions.find((s) => s.sessionId === sessionId)!;
    expect(health).toMatchObject({ businessId: ids.demo, storeCode: "demo", nodeId: server.config.nodeId });
    expect(health.inboundBitrateBps).toBeGreaterThan(0);
    expect(health.mediaWorkerPid).toBe(server.mediaPool.describe()[0]!.pid);
    expect(health.speechWorker).toBe(server.asrPool.workers[0]!.address);
    expect(report.mediaWorkers[0]!.transports).toBeGreaterThan(0);
    expect(report.speechWorkers[0]).toMatchObject({ ok: true, engine: expect.any(String) });
    expect(report.speechWorkers[0]!.activeStreams).toBeGreaterThan(0);
    expect(report.llm?.engine).toBe("builtin");

    // Nothing of it reached the other business, whatever it asks for.
    for (const other of [acme, acmeStaff]) {
      expect(of(other.snapshot.live, sessionId)).toHaveLength(0);
      const denied = await other.client.request({ case: "getConversation", value: { sessionId } });
      expect(denied.case === "error" && denied.value.code).toBe(ErrorCode.NOT_FOUND);
      const tiles = await other.client.request({ case: "getTiles", value: {} });
      expect(tiles.case === "tiles" && tiles.value.liveNow).toBe(0);
    }
    const peek = await acme.client.request({ case: "subscribe", value: { businessId: ids.demo } });
    expect(peek.case === "error" && peek.value.code).toBe(ErrorCode.NOT_FOUND);
    const peekStore = await acme.client.request({ case: "subscribe", value: { storeCodes: ["demo"] } });
    expect(peekStore.case === "error" && peekStore.value.code).toBe(ErrorCode.NOT_FOUND);
    // And only an admin may end a session.
    const refused = await demo.client.request({ case: "endSession", value: { sessionId } });
    expect(refused.case === "error" && refused.value.code).toBe(ErrorCode.PERMISSION_DENIED);

    // The admin ends it: the customer is told why.
    expect((await admin.client.request({ case: "endSession", value: { sessionId } }, 40_000)).case).toBe("done");
    const ended = await customer.socket.waitFor(
      (m) => m.kind.case === "event" && m.kind.value.kind.case === "conversationEnded",
      40_000,
    );
    expect(
      ended.kind.case === "event" &&
        ended.kind.value.kind.case === "conversationEnded" &&
        ended.kind.value.kind.value.reason,
    ).toBe(EndReason.ENDED_BY_ADMIN);
    for (const w of [demo, late])
      await w.client.waitFor(
        (m) =>
          m.kind.case === "live" &&
          m.kind.value.sessionId === sessionId &&
          kindOf(m.kind.value) === "conversationEnded",
        20_000,
      );
    // Told the conversation is over, the customer stops talking: play() goes on through what is
    // left of the array, which ends after the packet it is waiting to send.
    speech.length = lastSent + 2;
    await playing;

    // The late wall's snapshot plus its updates: every event after the snapshot, once, in order.
    const updates = of(late.client.live(), sessionId).map((e) => Number(e.seq));
    const lastInSnapshot = Math.max(...snapshot.map((e) => Number(e.seq)));
    expect(updates[0]).toBe(lastInSnapshot + 1);
    expect(updates.every((s, i) => i === 0 || s === updates[i - 1]! + 1)).toBe(true);
    // The early wall saw the whole conversation, in order, from its first event.
    const all = of(demo.client.live(), sessionId).map((e) => Number(e.seq));
    expect(all[0]).toBe(1);
    expect(all.every((s, i) => i === 0 || s === all[i - 1]! + 1)).toBe(true);
    // The other business: nothing at any time.
    for (const other of [acme, acmeStaff]) expect(of(other.client.live(), sessionId)).toHaveLength(0);

    // Records decides the reward once the end is stored; the walls hear it live.
    const reward = await demo.client.waitFor(
      (m) => m.kind.case === "live" && m.kind.value.sessionId === sessionId && kindOf(m.kind.value) === "reward",
      20_000,
    );
    await server.records.flush();
    // The reward went out through the ended session, kept for that without its parts (no audio buffers).
    const endedSession = server.sessions.recent(sessionId);
    expect(endedSession?.ended).toBe(true);
    expect([endedSession?.media, endedSession?.conversation, endedSession?.audioClock]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);

    // The drill-down: the whole conversation for its business, read back from Postgres.
    expect(late.snapshot.historySource).toBe("records");
    const drill = await demo.client.request({ case: "getConversation", value: { sessionId } });
    expect(drill.case).toBe("conversation");
    if (drill.case !== "conversation") return;
    expect(drill.value.live).toBe(false);
    expect(drill.value.feedback?.reason).toBe(EndReason.ENDED_BY_ADMIN);
    // Every final the wall saw live, with its words, as stored.
    const liveFinals = new Map(finals(of(demo.client.live(), sessionId)).map((s) => [s.segmentId, s]));
    expect(drill.value.segments.map((s) => s.segmentId).sort()).toEqual([...liveFinals.keys()].sort());
    for (const s of drill.value.segments) {
      expect(s.text).toBe(liveFinals.get(s.segmentId)!.text);
      expect(s.words.map((w) => w.text)).toEqual(liveFinals.get(s.segmentId)!.words.map((w) => w.text));
    }
    const [stored] = await server.records.sql<{ n: number }[]>`
      select count(*)::int as n from transcript_segments where session_id = ${sessionId}`;
    expect(drill.value.segments).toHaveLength(stored!.n);
    const liveScores = of(demo.client.live(), sessionId).filter((e) => kindOf(e) === "score").length;
    expect(drill.value.scoreTimeline.length).toBe(liveScores + (drill.value.feedback?.finalScore ? 1 : 0));
    const decided =
      reward.kind.case === "live" && reward.kind.value.event?.kind.case === "reward"
        ? reward.kind.value.event.kind.value
        : undefined;
    expect(drill.value.feedback).toMatchObject({ rewardMinor: decided?.amountMinor, currency: decided?.currency });
    expect(drill.value.feedback?.rewardStatus).toBeTruthy();
    const tiles = await demo.client.request({ case: "getTiles", value: {} });
    expect(tiles.case === "tiles" && tiles.value.todayCount).toBe(1);
    const recent = await DashboardClient.subscribed(server, token("owner", ids.demo));
    cleanups.push(() => recent.client.close());
    expect(recent.snapshot.recent.map((f) => f.sessionId)).toEqual([sessionId]);
    const acmeRecent = await DashboardClient.subscribed(server, token("owner", ids.acme));
    cleanups.push(() => acmeRecent.client.close());
    expect(acmeRecent.snapshot.recent).toEqual([]);
  }, 180_000);
});
