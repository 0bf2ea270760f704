import { TrendRange } from "@parley/proto/wall";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { MemoryWallHistory } from "../../src/wall/history/MemoryWallHistory.ts";
import { DAY_MS } from "../../src/wall/history/WallHistory.ts";
import { FakeConversation } from "./events.ts";

const bus = new LocalLiveBus(pino({ level: "silent" }));
const history = new MemoryWallHistory({ bus });

// Noon UTC on a fixed day; the viewer is in Stockholm in winter (UTC+1).
const NOON = Date.UTC(2025, 0, 15, 12);
const window = { nowMs: NOON, utcOffsetMinutes: 60 };
const all = { businessId: undefined, storeCodes: undefined };
const alpha = { businessId: "alpha", storeCodes: undefined };

function finished(
  store: string,
  business: string,
  atMs: number,
  score: number,
  extra: { sentiment?: number; topics?: string[]; reward?: number } = {},
) {
  const c = new FakeConversation(bus, store, business).start(atMs - 60_000);
  c.segment(1, "the coffee was cold", true, atMs - 30_000);
  c.score(score - 5, { through: 1 }, atMs - 20_000);
  c.end({ score, sentiment: extra.sentiment ?? 0, topics: extra.topics ?? [] }, atMs, extra.reward ?? 0);
  return c;
}

describe("the embedded wall history", () => {
  // Published in time order, as ends arrive.
  finished("a1", "alpha", NOON - 3 * DAY_MS, 70);
  finished("a1", "alpha", NOON - 2 * DAY_MS, 50);
  finished("a2", "alpha", NOON - 2 * 3_600_000, 30, { topics: ["service", "price"], sentiment: -0.6 });
  const today1 = finished("a1", "alpha", NOON - 3_600_000, 80, { topics: ["service"], sentiment: 0.5, reward: 2000 });
  finished("b1", "beta", NOON - 3_600_000, 99, { reward: 3000 });
  const live = new FakeConversation(bus, "a1", "alpha").start(NOON - 10_000);
  live.segment(1, "still talking", true, NOON - 5_000);

  it("lists finished feedback newest first, within scope only", async () => {
    const recent = await history.recent(alpha, 10);
    expect(recent.map((f) => f.finalScore?.score)).toEqual([80, 30, 50, 70]);
    expect(recent.every((f) => f.businessId === "alpha")).toBe(true);
    expect(recent[0]?.sessionId).toBe(today1.sessionId);
    expect(await history.recent({ businessId: "alpha", storeCodes: new Set(["a2"]) }, 10)).toHaveLength(1);
    expect(await history.recent(all, 2)).toHaveLength(2);
  });

  it("gives today's tiles against the 7 days before, per business", async () => {
    const tiles = await history.tiles(alpha, window);
    expect(tiles.todayCount).toBe(2);
    expect(tiles.todayAverageScore).toBe(55);
    expect(tiles.baselineCount).toBe(2);
    expect(tiles.baselineAverageScore).toBe(60);
    expect(tiles.shareAboveRewardThreshold).toBe(0.5);
    expect(tiles.paidTodayMinor).toBe(2000n);
    expect((await history.tiles({ businessId: "beta", storeCodes: undefined }, window)).paidTodayMinor).toBe(3000n);
  });

  it("buckets trends by the viewer's hours and days, and ranks topics", async () => {
    const today = await history.trends(alpha, TrendRange.TODAY, window);
    expect(today.buckets).toHaveLength(24);
    // 11:00 and 10:00 UTC are 12:00 and 11:00 in Stockholm.
    expect(today.buckets[12]?.count).toBe(1);
    expect(today.buckets[11]?.count).toBe(1);
    expect(today.topics[0]).toMatchObject({ topic: "service", count: 2, negative: 1 });
    const week = await history.trends(alpha, TrendRange.DAYS_7, window);
    expect(week.buckets).toHaveLength(7);
    expect(week.buckets.reduce((n, b) => n + b.count, 0)).toBe(4);
    expect(week.buckets.at(-1)?.averageScore).toBe(55);
  });

  it("answers the drill-down for live and finished conversations", async () => {
    const done = await history.conversation(today1.sessionId);
    expect(done?.live).toBe(false);
    expect(done?.feedback?.transcript).toBe("the coffee was cold");
    expect(done?.scoreTimeline.map((p) => p.score?.score)).toEqual([75, 80]);
    const now = await history.conversation(live.sessionId);
    expect(now?.live).toBe(true);
    expect(now?.feedback?.transcript).toBe("still talking");
    expect(await history.conversation("nope")).toBeUndefined();
  });
});
