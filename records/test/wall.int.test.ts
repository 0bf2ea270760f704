// What the business wall reads from the records, on a real PostgreSQL 15:
// conversations written through the write queue as the node's bus carries
// them, rewards and fraud flags decided by the finalizer, then read back by
// scope — a business never sees another's, staff limited to stores see only
// those — and moderation kept with its audit trail.
import { randomUUID } from "node:crypto";
import { ErrorCode } from "@parley/proto/errors";
import { viewerDayStart } from "@parley/proto/viewer-day";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FeedbackFilter, Records, WallQueryScope } from "../src/index.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { Conversation, openRecords, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
let records: Records;
const ids = { demo: "", acme: "" };
const DAY = 86_400_000;
const day = { nowMs: Date.now(), utcOffsetMinutes: 120 };
const today = viewerDayStart(day);

beforeAll(async () => {
  pg = await startCluster();
  records = await openRecords(await pg.createDatabase());
  ids.demo = records.demo!.businessId;
  const [acme] = await records.sql<{ id: string }[]>`
    insert into businesses (id, name) values (gen_random_uuid(), 'Acme') returning id`;
  ids.acme = acme!.id;
  await records.sql`
    insert into stores (id, business_id, code, name, language, reward_policy)
    select gen_random_uuid(), ${ids.acme}, 'north', 'North', 'sv-SE', reward_policy from stores where code = 'demo'`;
  await records.sql`
    insert into stores (id, business_id, code, name, language, reward_policy)
    select gen_random_uuid(), ${ids.demo}, 'second', 'Second', 'en-US',
           ${records.sql.json({ minQuality: 50, tiers: [{ minScore: 70, amountMinor: 1_000 }], capMinor: 1_000 })}
    from stores where code = 'demo'`;
  await records.sql`
    insert into users (id, email, password_hash, role, business_id) values
      (gen_random_uuid(), 'anna@acme.test', 'x', 'owner', ${ids.acme}),
      (gen_random_uuid(), 'bo@acme.test', 'x', 'owner', ${ids.acme}),
      (gen_random_uuid(), 'staff@acme.test', 'x', 'staff', ${ids.acme})`;
}, 60_000);
afterAll(async () => {
  await records?.close();
  await pg?.destroy();
});

let visits = 0;
interface Visit {
  store?: string;
  businessId?: string;
  score?: number;
  receipt?: string;
  lines?: string[];
  questions?: string[];
  end?: boolean;
}
/** One conversation through the write queue (as the node's bus carries it), ended now; its session id. */
async function visit(v: Visit = {}): Promise<string> {
  const c = new Conversation(v.store ?? "demo", v.businessId ?? ids.demo);
  visits++;
  await records.beginSession({
    sessionId: c.sessionId,
    storeCode: c.storeCode,
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: `10.7.${visits % 250}.${(visits * 7) % 250}`,
    receipt: v.receipt,
  });
  records.write(c.started());
  const lines = v.lines ?? uniqueFeedback(1000 + visits);
  for (const [i, line] of lines.entries()) {
    records.write(c.segment(i + 1, line));
    records.write(c.score(30 + 10 * i));
    if (v.questions?.[i]) records.write(c.question(i + 1, v.questions[i]!));
  }
  if (v.end !== false) records.write(c.ended(v.score ?? 80));
  await records.flush();
  return c.sessionId;
}

describe("the wall's history from Postgres", () => {
  const seen = {
    demoToday: "",
    demoLow: "",
    second: "",
    yesterday: "",
    threeDays: "",
    old: "",
    acme: "",
    acmeFraud: "",
    live: "",
  };

  beforeAll(async () => {
    // Demo: two today at the demo store, one today at the second store, one yesterday, one 3 days ago, one 9 days ago.
    seen.demoToday = await visit({ score: 80, questions: ["What made the queue slow?", "What would help?"] });
    seen.demoLow = await visit({ score: 35 });
    seen.second = await visit({ store: "second", score: 65 });
    seen.yesterday = await visitEndedAt(today - 2 * 3_600_000, 50);
    seen.threeDays = await visitEndedAt(today - 3 * DAY + 3_600_000, 70);
    seen.old = await visitEndedAt(today - 9 * DAY, 10);
    // Acme: one today, and one that repeats a receipt (flagged as fraud).
    seen.acme = await visit({ store: "north", businessId: ids.acme, score: 90, receipt: "R-1" });
    seen.acmeFraud = await visit({ store: "north", businessId: ids.acme, score: 90, receipt: "R-1" });
    seen.live = await visit({ end: false });
  }, 60_000);

  async function visitEndedAt(endedAtMs: number, score: number, store = "demo", businessId = ids.demo) {
    const c = new Conversation(store, businessId);
    visits++;
    await records.beginSession({
      sessionId: c.sessionId,
      storeCode: store,
      consent: { given: true, version: "v1" },
      deviceId: randomUUID(),
      ip: `10.8.${visits % 250}.1`,
    });
    records.write(c.started());
    records.write(c.segment(1, uniqueFeedback(2000 + visits)[0]!));
    const end = c.ended(score);
    end.publishedAtMs = BigInt(endedAtMs);
    records.write(end);
    await records.flush();
    return c.sessionId;
  }

  it("lists a business's finished feedback, newest first, and nothing of another business", async () => {
    const demo = (await records.wall.page({ businessId: ids.demo, storeCodes: undefined }, 50)).feedback;
    expect(demo.map((f) => f.sessionId)).toEqual([
      seen.second,
      seen.demoLow,
      seen.demoToday,
      seen.yesterday,
      seen.threeDays,
      seen.old,
    ]);
    expect(demo.every((f) => f.businessId === ids.demo)).toBe(true);
    const acme = (await records.wall.page({ businessId: ids.acme, storeCodes: undefined }, 50)).feedback;
    expect(acme.map((f) => f.sessionId).sort()).toEqual([seen.acme, seen.acmeFraud].sort());
    // Staff limited to a store; an admin sees every business; a limit is a limit.
    const staff = (await records.wall.page({ businessId: ids.demo, storeCodes: ["second"] }, 50)).feedback;
    expect(staff.map((f) => f.sessionId)).toEqual([seen.second]);
    const admin = (await records.wall.page({ businessId: undefined, storeCodes: undefined }, 50)).feedback;
    expect(admin).toHaveLength(8);
    expect((await records.wall.page({ businessId: undefined, storeCodes: undefined }, 2)).feedback).toHaveLength(2);
    // Another business's store within a business's scope, or a malformed id: nothing.
    expect((await records.wall.page({ businessId: ids.demo, storeCodes: ["north"] }, 50)).feedback).toEqual([]);
    expect((await records.wall.page({ businessId: "acme", storeCodes: undefined }, 50)).feedback).toEqual([]);
    expect((await records.wall.page({ businessId: ids.demo, storeCodes: [] }, 50)).feedback).toEqual([]);
  });

  it("filters the finished feedback before its limit: the latest that match, however old, within the scope only", async () => {
    const demo = { businessId: ids.demo, storeCodes: undefined };
    const ofFilter = async (filter: FeedbackFilter, limit = 50, scope: WallQueryScope = demo) =>
      (await records.wall.page(scope, limit, filter)).feedback.map((f) => f.sessionId);
    // The two latest of the business are not low: the low ones are still found, the oldest included.
    expect(await ofFilter({ score: "low" }, 2)).toEqual([seen.demoLow, seen.old]);
    expect(await ofFilter({ score: "mid" })).toEqual([seen.second, seen.yesterday]);
    expect(await ofFilter({ score: "high" })).toEqual([seen.demoToday, seen.threeDays]);
    // A store within the scope, with another filter.
    expect(await ofFilter({ score: "mid" }, 50, { businessId: ids.demo, storeCodes: ["demo"] })).toEqual([
      seen.yesterday,
    ]);
    // Flagged by a fraud rule, or not: within the scope (the flagged one is Acme's).
    const acme = { businessId: ids.acme, storeCodes: undefined };
    expect(await ofFilter({ status: "flagged" }, 50, acme)).toEqual([seen.acmeFraud]);
    expect(await ofFilter({ status: "ended" }, 50, acme)).toEqual([seen.acme]);
    expect(await ofFilter({ status: "flagged" })).toEqual([]);
    expect(await ofFilter({ status: "ended" })).toHaveLength(6);
    // Topics, sentiment and language of the final score and the session; time by the start.
    expect(await ofFilter({ topic: "waiting_time" })).toHaveLength(6);
    expect(await ofFilter({ topic: "parking" })).toEqual([]);
    expect(await ofFilter({ sentiment: "positive" })).toHaveLength(6);
    expect(await ofFilter({ sentiment: "negative" })).toEqual([]);
    expect(await ofFilter({ sentiment: "neutral" })).toEqual([]);
    expect(await ofFilter({ language: "en" })).toHaveLength(6);
    expect(await ofFilter({ language: "sv" })).toEqual([]);
    expect(await ofFilter({ startedSinceMs: Date.now() + 3_600_000 })).toEqual([]);
    expect(await ofFilter({ startedSinceMs: Date.now() - 3_600_000, score: "low" })).toEqual([seen.demoLow, seen.old]);
    // Admins: every business; a malformed scope: nothing.
    expect(await ofFilter({ status: "flagged" }, 50, { businessId: undefined, storeCodes: undefined })).toEqual([
      seen.acmeFraud,
    ]);
    expect(await ofFilter({ score: "low" }, 50, { businessId: "acme", storeCodes: undefined })).toEqual([]);
  });

  it("knows which businesses exist", async () => {
    expect(await records.wall.businessExists(ids.demo)).toBe(true);
    expect(await records.wall.businessExists(randomUUID())).toBe(false);
    expect(await records.wall.businessExists(ids.demo.slice(0, -2))).toBe(false);
  });

  it("reads one conversation back whole: words, questions, the score's course, the final score, reward and flags", async () => {
    const c = (await records.wall.conversation(seen.demoToday))!;
    expect(c.live).toBe(false);
    expect(c.feedback).toMatchObject({
      sessionId: seen.demoToday,
      businessId: ids.demo,
      storeCode: "demo",
      language: "en-US",
      endReason: "CUSTOMER",
      summary: "Customer talked about the service.",
      reward: { amountMinor: 2_000, currency: "SEK", status: "claimable", reason: "tier" },
      fraudFlags: [],
    });
    expect(c.feedback.finalScore).toMatchObject({ score: 80, topics: ["service", "waiting_time"] });
    expect(c.segments.map((s) => s.segmentId)).toEqual([1, 2, 3]);
    expect(c.segments[0]!.words.length).toBe(c.segments[0]!.text.split(" ").length);
    expect(c.segments[0]!.words[1]).toEqual({ text: c.segments[0]!.text.split(" ")[1], startMs: 5300, endMs: 5550 });
    expect(c.feedback.transcript).toBe(c.segments.map((s) => s.text).join(" "));
    expect(c.questions.map((q) => q.text)).toEqual(["What made the queue slow?", "What would help?"]);
    expect(c.timeline.map((p) => p.score.score)).toEqual([30, 40, 50, 80]);
    expect(c.timeline.at(-1)!.atMs).toBe(c.feedback.endedAtMs);

    const fraud = (await records.wall.conversation(seen.acmeFraud))!;
    expect(fraud.feedback.fraudFlags).toEqual(["duplicate_receipt"]);
    expect(fraud.feedback.reward).toMatchObject({ status: "withheld", amountMinor: 0, reason: "flagged" });
    expect(await records.wall.fraudFlags(seen.acmeFraud)).toEqual([{ rule: "duplicate_receipt", severity: "fraud" }]);

    const live = (await records.wall.conversation(seen.live))!;
    expect(live.live).toBe(true);
    expect(live.feedback.endedAtMs).toBe(0);
    expect(live.segments.length).toBe(3);
    expect(await records.wall.conversation(randomUUID())).toBeUndefined();
    expect(await records.wall.conversation("not-a-uuid")).toBeUndefined();
  });

  it("counts today's tiles in the viewer's day against the 7 days before", async () => {
    const demo = await records.wall.tiles({ businessId: ids.demo, storeCodes: undefined }, day);
    expect(demo).toMatchObject({
      todayCount: 3,
      todayScored: 3,
      baselineCount: 2, // yesterday and 3 days ago; not 9 days ago
      fraudFlagsToday: 0,
      currency: "SEK",
      rewardThreshold: 40, // the lowest paying score among the business's stores
      paidTodayMinor: 0, // nothing transferred yet: rewards are held until claimed
    });
    expect(demo.todayAverageScore).toBeCloseTo((80 + 35 + 65) / 3, 4);
    expect(demo.baselineAverageScore).toBeCloseTo(60, 4);
    // 80 at demo (pays from 40) and not 35; 65 at "second" (pays from 70) does not.
    expect(demo.shareAboveRewardThreshold).toBeCloseTo(1 / 3, 4);
    // Rewards count on the day they were decided: here the back-dated visits' too (decided as they were written).
    expect(demo.grantedTodayMinor).toBe(2_000 + 500 + 1_000);
    // A reward transferred to the customer's account counts as paid.
    await records.sql`update rewards set status = 'paid' where session_id = ${seen.demoToday}`;
    expect((await records.wall.tiles({ businessId: ids.demo, storeCodes: undefined }, day)).paidTodayMinor).toBe(2_000);

    const acme = await records.wall.tiles({ businessId: ids.acme, storeCodes: undefined }, day);
    expect(acme).toMatchObject({ todayCount: 2, fraudFlagsToday: 1, grantedTodayMinor: 3_000, baselineCount: 0 });
    const second = await records.wall.tiles({ businessId: ids.demo, storeCodes: ["second"] }, day);
    expect(second).toMatchObject({ todayCount: 1, rewardThreshold: 70, grantedTodayMinor: 0 });
    const admin = await records.wall.tiles({ businessId: undefined, storeCodes: undefined }, day);
    expect(admin).toMatchObject({ todayCount: 5, fraudFlagsToday: 1, grantedTodayMinor: 3_500 + 3_000 });
    // The same moment seen from a viewer ten hours behind UTC: the day's edges move, the counts follow them.
    const west = { nowMs: day.nowMs, utcOffsetMinutes: -600 };
    const westStart = viewerDayStart(west);
    const ends = (await records.wall.page({ businessId: ids.demo, storeCodes: undefined }, 50)).feedback.map(
      (f) => f.endedAtMs,
    );
    expect(await records.wall.tiles({ businessId: ids.demo, storeCodes: undefined }, west)).toMatchObject({
      todayCount: ends.filter((e) => e >= westStart).length,
      baselineCount: ends.filter((e) => e < westStart && e >= westStart - 7 * DAY).length,
    });
    expect(await records.wall.tiles({ businessId: "nope", storeCodes: undefined }, day)).toMatchObject({
      todayCount: 0,
      grantedTodayMinor: 0,
    });
  });

  it("draws trends by hour today and by day over 7 and 30 days, with topics and their sentiment", async () => {
    const scope = { businessId: ids.demo, storeCodes: undefined };
    const hours = await records.wall.trends(scope, "today", day);
    expect(hours.buckets).toHaveLength(24);
    expect(hours.buckets[0]!.startMs).toBe(today);
    expect(hours.buckets.reduce((n, b) => n + b.count, 0)).toBe(3);
    const week = await records.wall.trends(scope, "days7", day);
    expect(week.buckets).toHaveLength(7);
    expect(week.buckets.at(-1)).toMatchObject({ startMs: today, count: 3 });
    expect(week.buckets.at(-2)).toMatchObject({ count: 1, averageScore: 50 });
    expect(week.buckets.reduce((n, b) => n + b.count, 0)).toBe(5);
    const month = await records.wall.trends(scope, "days30", day);
    expect(month.buckets).toHaveLength(30);
    expect(month.buckets.reduce((n, b) => n + b.count, 0)).toBe(6);
    expect(month.topics).toEqual([
      { topic: "service", count: 6, averageSentiment: expect.closeTo(0.3, 4), negative: 0 },
      { topic: "waiting_time", count: 6, averageSentiment: expect.closeTo(0.3, 4), negative: 0 },
    ]);
    const acme = await records.wall.trends({ businessId: ids.acme, storeCodes: undefined }, "days30", day);
    expect(acme.buckets.reduce((n, b) => n + b.count, 0)).toBe(2);
  });

  it("draws a viewer's days and hours through a clock change in their zone", async () => {
    const [nordic] = await records.sql<{ id: string }[]>`
      insert into businesses (id, name) values (gen_random_uuid(), 'Nordic') returning id`;
    await records.sql`
      insert into stores (id, business_id, code, name, language, time_zone, reward_policy)
      select gen_random_uuid(), ${nordic!.id}, 'nordic', 'Nordic', 'sv-SE', 'Europe/Stockholm', reward_policy
      from stores where code = 'demo'`;
    const at = Date.parse;
    // Stockholm's clocks went forward on Sunday 2026-03-29 at 02:00 (01:00 UTC).
    await visitEndedAt(at("2026-03-28T22:30:00Z"), 60, "nordic", nordic!.id); // Saturday 23:30, UTC+1
    await visitEndedAt(at("2026-03-29T01:30:00Z"), 40, "nordic", nordic!.id); // Sunday 03:30, UTC+2
    await visitEndedAt(at("2026-03-29T21:30:00Z"), 80, "nordic", nordic!.id); // Sunday 23:30
    const scope = { businessId: nordic!.id, storeCodes: undefined };
    const sundayNight = { nowMs: at("2026-03-29T21:45:00Z"), utcOffsetMinutes: 120, timeZone: "Europe/Stockholm" };

    const hours = await records.wall.trends(scope, "today", sundayNight);
    expect(hours.buckets).toHaveLength(23);
    expect(hours.buckets[0]!.startMs).toBe(at("2026-03-28T23:00:00Z"));
    expect(hours.buckets.flatMap((b, i) => (b.count ? [[i, b.count]] : []))).toEqual([
      [2, 1], // the third hour of the day is 03:00
      [22, 1],
    ]);
    const week = await records.wall.trends(scope, "days7", sundayNight);
    expect(week.buckets.at(-1)).toMatchObject({ startMs: at("2026-03-28T23:00:00Z"), count: 2, averageScore: 60 });
    expect(week.buckets.at(-2)).toMatchObject({ startMs: at("2026-03-27T23:00:00Z"), count: 1, averageScore: 60 });
    expect((await records.wall.tiles(scope, sundayNight)).todayCount).toBe(2);
    // The viewer's offset alone (what older dashboards send) moves Saturday's last hour into Sunday.
    const offsetOnly = { nowMs: sundayNight.nowMs, utcOffsetMinutes: 120 };
    expect((await records.wall.tiles(scope, offsetOnly)).todayCount).toBe(3);
  });

  it("names the owners who receive a business's alerts, and businesses by id", async () => {
    expect(await records.wall.ownerEmails(ids.acme)).toEqual(["anna@acme.test", "bo@acme.test"]);
    expect(await records.wall.ownerEmails(ids.demo)).toEqual(["demo@parley.local"]);
    expect(await records.wall.ownerEmails("x")).toEqual([]);
    const names = await records.wall.businessNames([ids.demo, ids.acme, randomUUID(), "bad"]);
    expect(Object.fromEntries(names)).toEqual({ [ids.demo]: "Demo business", [ids.acme]: "Acme" });
  });
});

describe("moderation in Postgres", () => {
  it("keeps decisions and settings, audits them, and lets an automatic approval never override a person", async () => {
    const a = await visit({ score: 90 });
    const b = await visit({ score: 95 });
    const owner = { userId: randomUUID(), role: "owner" as const };
    const first = await records.moderation.decide({ sessionId: a, businessId: ids.demo, status: "hidden" }, owner);
    expect(first).toMatchObject({
      previous: undefined,
      changed: true,
      current: { status: "hidden", storeCode: "demo" },
    });
    // The threshold's approval comes later: the person's decision stands.
    const auto = await records.moderation.decide({ sessionId: a, businessId: ids.demo, status: "approved" }, "system");
    expect(auto).toMatchObject({ changed: false, current: { status: "hidden", automatic: false } });
    const autoB = await records.moderation.decide({ sessionId: b, businessId: ids.demo, status: "approved" }, "system");
    expect(autoB).toMatchObject({ changed: true, current: { status: "approved", automatic: true } });
    // A person may approve what was hidden.
    const again = await records.moderation.decide({ sessionId: a, businessId: ids.demo, status: "approved" }, owner);
    expect(again).toMatchObject({ previous: { status: "hidden" }, current: { status: "approved" } });
    expect((await records.moderation.approved(ids.demo, undefined, 10)).map((d) => d.sessionId)).toEqual([a, b]);
    expect(await records.moderation.approved(ids.demo, ["second"], 10)).toEqual([]);
    expect(await records.moderation.approved(ids.acme, undefined, 10)).toEqual([]);
    expect((await records.moderation.decisions([a, b, randomUUID()])).map((d) => d.status).sort()).toEqual([
      "approved",
      "approved",
    ]);

    // Another business's conversation is not found, whoever asks.
    await expect(
      records.moderation.decide({ sessionId: a, businessId: ids.acme, status: "hidden" }, owner),
    ).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });

    await records.moderation.setSettings(ids.demo, { autoApproveAbove: 85, redactedPhrases: ["Anna"] }, owner);
    expect(await records.moderation.settings(ids.demo)).toEqual({ autoApproveAbove: 85, redactedPhrases: ["Anna"] });
    expect(await records.moderation.settings(ids.acme)).toEqual({ autoApproveAbove: 0, redactedPhrases: [] });
    await expect(
      records.moderation.setSettings(randomUUID(), { autoApproveAbove: 1, redactedPhrases: [] }, owner),
    ).rejects.toMatchObject({ code: ErrorCode.NOT_FOUND });

    const audit = await records.sql<
      { actor: string; actor_user_id: string | null; action: string; target: string; detail: Record<string, unknown> }[]
    >`
      select actor, actor_user_id, action, target, detail from audit_log
      where business_id = ${ids.demo} and action like 'moderation.%' order by id`;
    expect(audit.map((r) => [r.actor, r.action, r.target])).toEqual([
      ["owner", "moderation.decide", `session:${a}`],
      ["system", "moderation.decide", `session:${b}`],
      ["owner", "moderation.decide", `session:${a}`],
      ["owner", "moderation.settings", `business:${ids.demo}`],
    ]);
    expect(audit[0]!.actor_user_id).toBe(owner.userId);
    expect(audit[2]!.detail).toMatchObject({ status: "approved", previous: "hidden", automatic: false });
    expect(audit[3]!.detail).toEqual({ autoApproveAbove: 85, redactedPhrases: 1 }); // not the phrases themselves
  });
});

describe("the wall's history a page at a time", () => {
  const paged = { business: "", other: "" };
  /** Microseconds since 1970 of an hour ago: the page keys below are around it. */
  const base = BigInt(Date.now() - 3_600_000) * 1000n;

  beforeAll(async () => {
    for (const [key, code] of [
      ["business", "paged"],
      ["other", "paged-other"],
    ] as const) {
      const [b] = await records.sql<{ id: string }[]>`
        insert into businesses (id, name) values (gen_random_uuid(), ${code}) returning id`;
      paged[key] = b!.id;
      await records.sql`
        insert into stores (id, business_id, code, name, language, reward_policy)
        select gen_random_uuid(), ${b!.id}, ${code}, ${code}, 'en-US', reward_policy from stores where code = 'demo'`;
    }
  });

  /** A finished conversation written straight into records, ended at `endedAtUs` (to the microsecond). */
  async function endedAt(store: string, endedAtUs: bigint, score: number, id: string = randomUUID()): Promise<string> {
    const end = records.sql`(timestamptz 'epoch' + ${endedAtUs.toString()}::int8 * interval '1 microsecond')`;
    await records.sql`
      insert into sessions (id, store_id, business_id, status, consent_given_at, consent_version,
                            started_at, ended_at, end_reason, language)
      select ${id}, st.id, st.business_id, 'ended', ${end} - interval '1 minute', 'v1',
             ${end} - interval '1 minute', ${end}, 'CUSTOMER', 'en-US'
      from stores st where st.code = ${store}`;
    await records.sql`
      insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
      values (${id}, ${score}, 0.5, 0.5, 0.1, 0.9, ${["service"]}, 'summary', 'test')`;
    return id;
  }

  it("walks every match exactly once, newest first, while conversations keep ending, and never outside the scope", async () => {
    const scope = { businessId: paged.business, storeCodes: undefined };
    const low = { score: "low" as const };
    // 13 low ones: some a microsecond apart (one millisecond holds several), three at the very same
    // instant (ordered by id), high ones between them (not matching) and another business's low ones.
    const ends = [0n, 1n, 2n, 3n, 999n, 1000n, 1001n, 5_000n, 5_000n, 5_000n, 9_000n, 60_000_000n, 60_000_001n];
    const expected: { id: string; us: bigint }[] = [];
    for (const [i, us] of ends.entries()) {
      expected.push({ id: await endedAt("paged", base + us, 10 + i), us: base + us });
      await endedAt("paged", base + us + 1n, 90);
      await endedAt("paged-other", base + us, 5);
    }
    expected.sort((a, b) => (a.us === b.us ? (a.id < b.id ? -1 : 1) : a.us > b.us ? -1 : 1));

    const seen: string[] = [];
    const arrived: string[] = [];
    const late: string[] = [];
    let page = await records.wall.page(scope, 4, low);
    for (let pages = 1; ; pages++) {
      expect(pages).toBeLessThan(10);
      seen.push(...page.feedback.map((f) => f.sessionId));
      expect(page.feedback.every((f) => f.businessId === paged.business && (f.finalScore?.score ?? 100) < 40)).toBe(
        true,
      );
      if (!page.next) break;
      // Between pages: a new one ends (newer than every page: not on the later ones), and one whose end
      // was written late, older than this page's last (it is on a later page, not hidden).
      arrived.unshift(await endedAt("paged", base + 3_600_000_000n + BigInt(pages), 20));
      late.push(await endedAt("paged", base - BigInt(pages) * 1000n, 20));
      page = await records.wall.page(scope, 4, low, page.next);
    }
    expect(seen).toEqual([...expected.map((e) => e.id), ...late]);
    expect(new Set(seen).size).toBe(seen.length);

    // Those that ended meanwhile are on the first page of a new walk; one page of all says it is the last.
    const all = await records.wall.page(scope, arrived.length + seen.length, low);
    expect(all.feedback.map((f) => f.sessionId)).toEqual([...arrived, ...seen]);
    expect(all.next).toBeUndefined();
    const first = await records.wall.page(scope, 4, low);
    expect(first.next).toEqual({ endedAtUs: expect.any(BigInt), sessionId: first.feedback[3]!.sessionId });

    // A position of this business's pages, in another's scope: that scope's own, nothing of this one.
    const other = await records.wall.page({ businessId: paged.other, storeCodes: undefined }, 50, low, first.next);
    expect(other.feedback.length).toBeGreaterThan(0);
    expect(other.feedback.every((f) => f.businessId === paged.other)).toBe(true);
    expect(await records.wall.page({ businessId: paged.other, storeCodes: ["paged"] }, 50, low, first.next)).toEqual({
      feedback: [],
      next: undefined,
    });
    // Not a position at all: refused, not read.
    await expect(records.wall.page(scope, 4, low, { endedAtUs: -1n, sessionId: randomUUID() })).rejects.toThrow(
      RangeError,
    );
    await expect(records.wall.page(scope, 4, low, { endedAtUs: 10n ** 19n, sessionId: randomUUID() })).rejects.toThrow(
      RangeError,
    );
    await expect(records.wall.page(scope, 4, low, { endedAtUs: base, sessionId: "x' or true --" })).rejects.toThrow(
      RangeError,
    );
  });
});
