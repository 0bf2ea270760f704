// The wall's alerts kept in Postgres (records.alerts, migration 0012): each
// alert once however many nodes save it (keyed by what it is about), read
// back within the caller's scope, newest first; deleted with the
// conversation's data by its customer, and by the retention job with their
// session or after DATA_RETENTION_DAYS.
import { randomUUID } from "node:crypto";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AlertToSave, Records } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
let records: Records;
let demo = "";
beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase());
  demo = (await records.sql<{ id: string }[]>`select business_id as id from stores where code = 'demo'`)[0]!.id;
});
afterAll(async () => {
  await records?.close();
  await pg?.destroy();
});

const HOUR = 3_600_000;
let seed = 7000;

/** A finished conversation at the demo store, with its data code. */
async function visit(into: Records) {
  const c = new Conversation("demo");
  const begun = await into.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: "203.0.113.7",
  });
  into.write(c.started());
  for (const [i, line] of uniqueFeedback(++seed).entries()) into.write(c.segment(i + 1, line));
  into.write(c.ended(20));
  await into.flush();
  return { sessionId: c.sessionId, dataCode: begun.dataCode };
}

function lowScore(sessionId: string, businessId: string, atMs = Date.now(), storeCode = "demo"): AlertToSave {
  return {
    key: `LOW_SCORE:${sessionId}`,
    id: `a-low-${sessionId}`,
    kind: "LOW_SCORE",
    businessId,
    storeCode,
    sessionId,
    topic: "",
    score: 12,
    sentiment: -0.75,
    count: 0,
    live: true,
    detail: "",
    atMs,
  };
}

function spike(businessId: string, topic: string, window: number, atMs: number): AlertToSave {
  return {
    key: `TOPIC_SPIKE:${businessId}:${topic}:${window}`,
    id: `a-spike-${businessId}-${topic}-${window}`,
    kind: "TOPIC_SPIKE",
    businessId,
    storeCode: undefined,
    sessionId: undefined,
    topic,
    score: 0,
    sentiment: 0,
    count: 3,
    live: false,
    detail: "",
    atMs,
    quietMs: HOUR,
  };
}

const keptFor = async (into: Records, sessionId: string) =>
  (await into.sql<{ n: number }[]>`select count(*)::int as n from wall_alerts where session_id = ${sessionId}`)[0]!.n;

describe("the wall's alerts", () => {
  it("are kept once per key however many nodes save them at once, as they were raised", async () => {
    const sessionId = randomUUID();
    const alert = lowScore(sessionId, demo);
    const results = await Promise.all([1, 2, 3].map(() => records.alerts.save(alert)));
    expect(results.sort()).toEqual(["duplicate", "duplicate", "stored"]);
    expect(await keptFor(records, sessionId)).toBe(1);
    const [kept] = await records.alerts.recent({ businessId: demo, storeCodes: undefined }, 0, 50);
    expect(kept).toEqual({
      id: alert.id,
      kind: "LOW_SCORE",
      businessId: demo,
      storeCode: "demo",
      sessionId,
      topic: "",
      score: 12,
      sentiment: -0.75,
      count: 0,
      live: true,
      detail: "",
      atMs: alert.atMs,
    });
  });

  it("keep one topic spike per cool-off, even when nodes' windows straddle a window's edge", async () => {
    const business = randomUUID();
    const at = Date.now();
    expect(await records.alerts.save(spike(business, "waiting_time", 7, at))).toBe("stored");
    // Another node's window is the next one (its clock a moment later), within the cool-off: not kept.
    expect(await records.alerts.save(spike(business, "waiting_time", 8, at + 5))).toBe("duplicate");
    // Another topic, or the same one after the cool-off, is kept.
    expect(await records.alerts.save(spike(business, "price", 8, at + 5))).toBe("stored");
    expect(await records.alerts.save(spike(business, "waiting_time", 9, at + HOUR + 1))).toBe("stored");
    const kept = await records.alerts.recent({ businessId: business, storeCodes: undefined }, 0, 50);
    expect(kept.map((a) => [a.topic, a.storeCode, a.sessionId])).toEqual([
      ["waiting_time", undefined, undefined],
      ["price", undefined, undefined],
      ["waiting_time", undefined, undefined],
    ]);
  });

  it("keep one topic spike when nodes on both sides of a window's edge save it at the same moment", async () => {
    const business = randomUUID();
    const at = Date.now();
    const topics = Array.from({ length: 30 }, (_, i) => `topic_${i}`);
    // Each pair: two nodes, windows 7 and 8, saving at once on two connections of the pool.
    const results = await Promise.all(
      topics.map((topic) =>
        Promise.all([
          records.alerts.save(spike(business, topic, 7, at)),
          records.alerts.save(spike(business, topic, 8, at + 1)),
        ]),
      ),
    );
    for (const pair of results) expect(pair.sort()).toEqual(["duplicate", "stored"]);
    const perTopic = await records.sql<{ topic: string; n: number }[]>`
      select topic, count(*)::int as n from wall_alerts where business_id = ${business} group by topic`;
    expect(perTopic.length).toBe(topics.length);
    expect(perTopic.every((r) => r.n === 1)).toBe(true);
  });

  it("are read within the caller's scope, newest first, as many as asked", async () => {
    const business = randomUUID();
    const other = randomUUID();
    const at = Date.now() - 60_000;
    const north = { ...lowScore(randomUUID(), business, at, "north") };
    const south = { ...lowScore(randomUUID(), business, at + 1, "south") };
    const wide = spike(business, "service", 1, at + 2);
    const theirs = lowScore(randomUUID(), other, at + 3, "north");
    for (const a of [north, south, wide, theirs]) expect(await records.alerts.save(a)).toBe("stored");
    const ids = async (businessId: string | undefined, storeCodes?: string[], limit = 50) =>
      (await records.alerts.recent({ businessId, storeCodes }, 0, limit)).map((a) => a.id);
    expect(await ids(business)).toEqual([wide.id, south.id, north.id]);
    expect(await ids(business, undefined, 2)).toEqual([wide.id, south.id]);
    // A wall limited to some stores sees their alerts only: not the business-wide spike.
    expect(await ids(business, ["north"])).toEqual([north.id]);
    expect(await ids(business, [])).toEqual([]);
    expect(await ids(other)).toEqual([theirs.id]);
    expect(await ids("not-a-uuid")).toEqual([]);
    // Admins: every business's.
    expect(await ids(undefined)).toEqual(expect.arrayContaining([theirs.id, wide.id, south.id, north.id]));
  });

  it("are read from the day asked for only: yesterday's are not shown as today's", async () => {
    const business = randomUUID();
    const dayStart = Date.now() - 2 * HOUR;
    const yesterday = lowScore(randomUUID(), business, dayStart - 20 * HOUR);
    const lastMinuteOfYesterday = spike(business, "queue", 1, dayStart - 1);
    const today = lowScore(randomUUID(), business, dayStart);
    for (const a of [yesterday, lastMinuteOfYesterday, today]) expect(await records.alerts.save(a)).toBe("stored");
    const ids = async (businessId: string | undefined) =>
      (await records.alerts.recent({ businessId, storeCodes: undefined }, dayStart, 50)).map((a) => a.id);
    expect(await ids(business)).toEqual([today.id]);
    // Admins' too (every business's).
    const everyones = await ids(undefined);
    expect(everyones).toContain(today.id);
    expect(everyones).not.toContain(yesterday.id);
    expect(everyones).not.toContain(lastMinuteOfYesterday.id);
  });

  it("refuse an alert that names no valid business or conversation", async () => {
    const refused = await records.alerts.save(lowScore("s1", demo)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ParleyError);
    expect((refused as ParleyError).code).toBe(ErrorCode.INVALID_ARGUMENT);
    await expect(records.alerts.save(lowScore(randomUUID(), "kafe"))).rejects.toThrow(/no UUID/);
  });

  it("go with the conversation when its customer deletes their data, and no other's", async () => {
    const http = await serveRoutes(records.routes);
    try {
      const mine = await visit(records);
      const other = await visit(records);
      for (const v of [mine, other]) {
        await records.alerts.save(lowScore(v.sessionId, demo));
        await records.alerts.save({
          ...lowScore(v.sessionId, demo),
          key: `FRAUD_FLAGGED:${v.sessionId}`,
          id: `f-${v.sessionId}`,
          kind: "FRAUD_FLAGGED",
        });
      }
      const del = await fetch(`${http.url}/api/customer/sessions/${mine.sessionId}?forfeitReward=true`, {
        method: "DELETE",
        headers: { "x-parley-data-code": mine.dataCode },
      });
      expect(del.status).toBe(200);
      expect(((await del.json()) as { deleted: { wall_alerts: number } }).deleted.wall_alerts).toBe(2);
      expect(await keptFor(records, mine.sessionId)).toBe(0);
      expect(await keptFor(records, other.sessionId)).toBe(2);
      // One saved a moment after the deletion (a node's save under way) is not shown, and the next retention run deletes it.
      await records.alerts.save({
        ...lowScore(mine.sessionId, demo),
        key: `NEGATIVE_SENTIMENT:${mine.sessionId}`,
        id: `n-${mine.sessionId}`,
        kind: "NEGATIVE_SENTIMENT",
      });
      const shown = await records.alerts.recent({ businessId: demo, storeCodes: undefined }, 0, 500);
      expect(shown.some((a) => a.sessionId === mine.sessionId)).toBe(false);
      expect(shown.filter((a) => a.sessionId === other.sessionId)).toHaveLength(2);
      expect((await records.retention.runOnce()).wall_alerts).toBe(1);
      expect(await keptFor(records, mine.sessionId)).toBe(0);
    } finally {
      await http.close();
    }
  });

  it("go with their session's redaction, and all after DATA_RETENTION_DAYS", async () => {
    let now = Date.now();
    const own = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24 },
    });
    try {
      const business = (await own.sql<{ id: string }[]>`select business_id as id from stores where code = 'demo'`)[0]!
        .id;
      const old = await visit(own);
      const recent = await visit(own);
      await own.sql`update sessions set created_at = created_at - interval '800 days' where id = ${old.sessionId}`;
      await own.alerts.save(lowScore(old.sessionId, business)); // raised today, of a session now due
      await own.alerts.save(lowScore(recent.sessionId, business));
      await own.alerts.save(spike(business, "price", 1, now - 800 * 24 * HOUR)); // of no session, past the retention
      await own.alerts.save(spike(business, "queue", 2, now - 700 * 24 * HOUR)); // not yet due
      now += HOUR;
      const counts = await own.retention.runOnce();
      expect(counts.wall_alerts).toBe(2);
      const left = await own.alerts.recent({ businessId: business, storeCodes: undefined }, 0, 50);
      expect(left.map((a) => a.sessionId ?? a.topic)).toEqual([recent.sessionId, "queue"]);
    } finally {
      await own.close();
    }
  });
});
