// The dashboard protocol's per-connection limits, with a history whose
// queries wait until the test lets them finish: requests beyond the cap on
// unanswered ones are refused at once, by their own request ids.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ErrorCode } from "@parley/proto/errors";
import { viewerDayStart } from "@parley/proto/viewer-day";
import {
  ClientMessageSchema,
  FeedbackSchema,
  ModerationStatus,
  type Response,
  type ServerMessage,
  ServerMessageSchema,
  TilesSchema,
} from "@parley/proto/wall";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { DashboardCaller } from "../../src/auth/userToken.ts";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { AlertEngine } from "../../src/wall/alerts/AlertEngine.ts";
import type { AlertStore } from "../../src/wall/alerts/AlertStore.ts";
import type { DayWindow, WallHistory } from "../../src/wall/history/WallHistory.ts";
import { LiveConversations } from "../../src/wall/LiveConversations.ts";
import type { WallModeration } from "../../src/wall/moderation/WallModeration.ts";
import { type DashboardSocket, MAX_REQUESTS_IN_FLIGHT, WallClient } from "../../src/wall/WallClient.ts";
import { WallRequests, type WallServices } from "../../src/wall/WallRequests.ts";

const limits = {
  softLimitBytes: 1_000_000,
  lowWaterBytes: 250_000,
  dropPartialsBytes: 2_000_000,
  closeBytes: 4_000_000,
  stallTimeoutMs: 60_000,
};
const owner: DashboardCaller = { userId: "u", role: "owner", businessId: "b", storeCodes: undefined };
const unused = () => Promise.reject(new Error("not used by this test"));

function rig(tiles: MessageInitShape<typeof TilesSchema> = {}, parts: Partial<WallServices> = {}) {
  const windows: DayWindow[] = [];
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const history: WallHistory = {
    source: "test",
    page: unused,
    feedback: unused,
    conversation: unused,
    tiles: async (_scope, window) => {
      windows.push(window);
      await gate;
      return create(TilesSchema, tiles);
    },
    trends: unused,
    close: () => {},
  };
  const requests = new WallRequests({
    nodeId: "test-node",
    verifier: { verify: async (token) => (token === "good" ? owner : undefined) },
    stores: { find: unused, list: unused, hasBusiness: unused },
    history,
    live: new LiveConversations(),
    flush: () => {},
    // Neither is reached by hello and getTiles.
    moderation: {} as unknown as WallModeration,
    alerts: {} as unknown as AlertEngine,
    admin: undefined,
    maxMessageBytes: 64 * 1024,
    logger: pino({ level: "silent" }),
    ...parts,
  });
  const responses: Response[] = [];
  const frames: ServerMessage[] = [];
  let closed: number | undefined;
  const socket: DashboardSocket = {
    send: (frame) => {
      const m = fromBinary(ServerMessageSchema, frame);
      if (m.kind.case === "response") responses.push(m.kind.value);
      else frames.push(m);
    },
    bufferedAmount: () => 0,
    subscribe: () => {},
    unsubscribe: () => {},
    close: (code) => {
      closed = code;
    },
  };
  const client = new WallClient({ id: 1, socket, limits, now: Date.now, onLane: () => {} });
  const send = (requestId: number, kind: MessageInitShape<typeof ClientMessageSchema>["kind"]) => {
    const bytes = toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind }));
    requests.onMessage(client, bytes.slice().buffer, true);
  };
  const answer = (requestId: number) => responses.filter((r) => r.requestId === requestId);
  return { send, answer, release, responses, frames, closed: () => closed, client, windows };
}

const settle = async (done: () => boolean) => {
  for (let i = 0; i < 1_000 && !done(); i++) await new Promise((r) => setImmediate(r));
};

describe("a dashboard's requests in flight", () => {
  it("refuses those beyond the cap at once, answers the rest, and keeps the socket", async () => {
    const { send, answer, release, responses, closed } = rig();
    send(1, { case: "hello", value: { token: "good" } });
    await settle(() => answer(1).length > 0);
    expect(answer(1)[0]?.result.case).toBe("welcome");

    const extra = 4;
    const ids = Array.from({ length: MAX_REQUESTS_IN_FLIGHT + extra }, (_, i) => 2 + i);
    for (const id of ids) send(id, { case: "getTiles", value: {} });
    // The queries wait: the ones beyond the cap were answered without waiting for them.
    const accepted = ids.slice(0, MAX_REQUESTS_IN_FLIGHT);
    const beyond = ids.slice(MAX_REQUESTS_IN_FLIGHT);
    for (const id of accepted) expect(answer(id)).toEqual([]);
    for (const id of beyond) {
      const [refused] = answer(id);
      expect(refused?.result.case).toBe("error");
      if (refused?.result.case !== "error") continue;
      expect(refused.result.value.code).toBe(ErrorCode.RATE_LIMITED);
      expect(refused.result.value.retryable).toBe(true);
      expect(refused.result.value.retryAfterMs).toBeGreaterThan(0);
    }

    release();
    await settle(() => accepted.every((id) => answer(id).length > 0));
    for (const id of accepted) expect(answer(id).map((r) => r.result.case)).toEqual(["tiles"]);
    // Every request answered exactly once, and room again once the others are done.
    expect(responses).toHaveLength(1 + ids.length);
    send(100, { case: "getTiles", value: {} });
    await settle(() => answer(100).length > 0);
    expect(answer(100)[0]?.result.case).toBe("tiles");
    expect(closed()).toBeUndefined();
  });
});

describe("a reply that cannot be encoded", () => {
  it("is answered INTERNAL, and the connection's next requests are still answered", async () => {
    // A count that is no integer cannot go into its uint32 field: encoding throws.
    const { send, answer, release, closed } = rig({ todayCount: 1.5 });
    release();
    send(1, { case: "hello", value: { token: "good" } });
    await settle(() => answer(1).length > 0);
    send(2, { case: "getTiles", value: {} });
    send(3, { case: "getTiles", value: {} });
    await settle(() => answer(2).length > 0 && answer(3).length > 0);
    for (const id of [2, 3]) {
      const [reply] = answer(id);
      expect(reply?.result.case).toBe("error");
      if (reply?.result.case === "error") expect(reply.result.value.code).toBe(ErrorCode.INTERNAL);
    }
    expect(closed()).toBeUndefined();
  });
});

describe("the viewer's day a dashboard asks for", () => {
  it("passes its time zone on, and refuses an unknown zone or an offset no zone has", async () => {
    const { send, answer, release, windows } = rig();
    release();
    send(1, { case: "hello", value: { token: "good" } });
    await settle(() => answer(1).length > 0);
    send(2, { case: "getTiles", value: { utcOffsetMinutes: 60, timeZone: "Europe/Stockholm" } });
    send(3, { case: "getTiles", value: { utcOffsetMinutes: -300 } });
    send(4, { case: "getTiles", value: { utcOffsetMinutes: 60, timeZone: "Mars/Olympus_Mons" } });
    send(5, { case: "getTiles", value: { utcOffsetMinutes: 100_000 } });
    await settle(() => [2, 3, 4, 5].every((id) => answer(id).length > 0));
    expect([2, 3].map((id) => answer(id)[0]?.result.case)).toEqual(["tiles", "tiles"]);
    expect(windows.map(({ utcOffsetMinutes, timeZone }) => ({ utcOffsetMinutes, timeZone }))).toEqual([
      { utcOffsetMinutes: 60, timeZone: "Europe/Stockholm" },
      { utcOffsetMinutes: -300, timeZone: undefined },
    ]);
    for (const [id, says] of [
      [4, /unknown time zone: Mars\/Olympus_Mons/],
      [5, /utc_offset_minutes out of range/],
    ] as const) {
      const result = answer(id)[0]?.result;
      expect(result?.case).toBe("error");
      if (result?.case !== "error") continue;
      expect(result.value.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(result.value.message).toMatch(says);
    }
  });
});

describe("a wall's snapshot and moderation", () => {
  it("sends a decision made while the snapshot was read, which came before the client joined its topics", async () => {
    let reads = 0;
    const approved = {
      sessionId: "s1",
      businessId: "b",
      storeCode: "a1",
      status: ModerationStatus.APPROVED,
      automatic: false,
    };
    const moderation = {
      // The first read (the snapshot's) is from before a person approved s1 on another node.
      decisions: async () => (++reads === 1 ? [] : [approved]),
      settings: async () => ({ autoApproveAbove: 0, redactedPhrases: [] }),
      publicFeedback: async () => [],
    } as unknown as WallModeration;
    const history = {
      source: "test",
      page: async () => ({
        feedback: [create(FeedbackSchema, { sessionId: "s1", businessId: "b", storeCode: "a1", endedAtMs: 5n })],
        next: undefined,
      }),
    } as unknown as WallHistory;
    const { send, answer, release, frames } = rig(
      {},
      {
        moderation,
        history,
        stores: { find: unused, list: async () => [], hasBusiness: unused },
        alerts: { recent: () => [], kept: async () => undefined } as unknown as AlertEngine,
      },
    );
    release();
    send(1, { case: "hello", value: { token: "good" } });
    await settle(() => answer(1).length > 0);
    send(2, { case: "subscribe", value: {} });
    await settle(() => frames.length > 0);
    const snapshot = answer(2)[0]?.result;
    expect(snapshot?.case === "snapshot" && snapshot.value.moderation).toEqual([]);
    expect(frames.map((f) => f.kind.case === "moderation" && f.kind.value.states)).toEqual([
      [expect.objectContaining({ sessionId: "s1", status: ModerationStatus.APPROVED })],
    ]);
  });
});

describe("a wall's snapshot's alerts", () => {
  it("are the viewer's today's, from the store and this node's memory alike; without a stated day, the last 24 hours", async () => {
    const zone = "Europe/Stockholm";
    const dayStart = () => viewerDayStart({ nowMs: Date.now(), utcOffsetMinutes: 0, timeZone: zone });
    let now = dayStart() - 3_600_000; // yesterday evening, the viewer's
    const asked: number[] = [];
    const store: AlertStore = {
      save: async () => "stored",
      recent: async (_scope, sinceMs) => {
        asked.push(sinceMs);
        return [];
      },
    };
    const alerts = new AlertEngine({
      bus: new LocalLiveBus(pino({ level: "silent" })),
      broadcast: () => {},
      logger: pino({ level: "silent" }),
      lowScore: 30,
      negativeSentiment: -0.5,
      store,
      now: () => now,
    });
    alerts.fraudFlagged({ sessionId: "yesterday", businessId: "b", storeCode: "a1", rule: "duplicate_receipt" });
    now = Date.now();
    alerts.fraudFlagged({ sessionId: "today", businessId: "b", storeCode: "a1", rule: "duplicate_receipt" });
    const moderation = {
      decisions: async () => [],
      settings: async () => ({ autoApproveAbove: 0, redactedPhrases: [] }),
      publicFeedback: async () => [],
    } as unknown as WallModeration;
    const history = { source: "test", page: async () => ({ feedback: [], next: undefined }) } as unknown as WallHistory;
    const { send, answer } = rig(
      {},
      { moderation, history, alerts, stores: { find: unused, list: async () => [], hasBusiness: unused } },
    );
    send(1, { case: "hello", value: { token: "good" } });
    await settle(() => answer(1).length > 0);
    const snapshotAlerts = async (requestId: number, value: { timeZone?: string }) => {
      const before = Date.now();
      send(requestId, { case: "subscribe", value });
      await settle(() => answer(requestId).length > 0);
      const result = answer(requestId)[0]?.result;
      return { before, after: Date.now(), shown: result?.case === "snapshot" ? result.value.alerts : undefined };
    };

    const first = await snapshotAlerts(2, { timeZone: zone });
    expect(first.shown?.map((a) => a.sessionId)).toEqual(["today"]);
    expect(asked.at(-1)).toBe(dayStart());

    // A dashboard that does not say its day (an older one): the last 24 hours.
    const older = await snapshotAlerts(3, {});
    expect(asked.at(-1)).toBeGreaterThanOrEqual(older.before - 24 * 3_600_000);
    expect(asked.at(-1)).toBeLessThanOrEqual(older.after - 24 * 3_600_000);
    alerts.close();
  });
});
