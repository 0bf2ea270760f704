// The wall's history read from Postgres (RecordsWallHistory): conversations
// published on the bus as a node publishes them, kept by the records writer,
// their rewards and fraud flags decided by records, then read back in the
// dashboard protocol's terms within a scope. Fraud alerts and alert
// recipients come from the same records.
import { fromBinary } from "@bufbuild/protobuf";
import { EndReason } from "@parley/proto/live";
import { type Alert, AlertKind, ServerMessageSchema, TrendRange } from "@parley/proto/wall";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlertEngine } from "../../src/wall/alerts/AlertEngine.ts";
import { BusinessOwnerRecipients } from "../../src/wall/alerts/BusinessOwnerRecipients.ts";
import { SendGridMailer } from "../../src/wall/alerts/SendGridMailer.ts";
import { RecordsWallHistory } from "../../src/wall/history/RecordsWallHistory.ts";
import type { HistoryScope } from "../../src/wall/history/WallHistory.ts";
import { SendGridTestDouble } from "../sendgrid-test-double.ts";
import type { FakeConversation } from "./events.ts";
import { logger, type RecordsRig, recordsRig } from "./records-rig.ts";

let rig: RecordsRig;
let history: RecordsWallHistory;
let sendgrid: SendGridTestDouble;
let alerts: AlertEngine;
const raised: { topics: readonly string[]; alert: Alert }[] = [];
const ids = { kafe: "", acme: "" };
const day = () => ({ nowMs: Date.now(), utcOffsetMinutes: 60 });
const scope = (businessId: string | undefined, stores?: string[]): HistoryScope => ({
  businessId,
  storeCodes: stores ? new Set(stores) : undefined,
});
/** The latest finished conversations in a scope: the first page of its unfiltered history. */
const recent = async (within: HistoryScope, limit: number) => (await history.page(within, limit, {})).feedback;

const WORDS = "the coffee was cold and the queue was long".split(" ");
const SECOND = [
  "the second one near the door",
  "cinnamon buns were fresh and warm today",
  "parking outside was impossible at noon",
  "my receipt printer jammed twice at checkout",
];
let talks = 0;
/**
 * A conversation as the bridge publishes it: finals with word timings,
 * scores, the AI's question, the end. Each says something else after the
 * first sentence (records flags near-duplicate transcripts).
 */
async function talk(c: FakeConversation, finalScore: number, topics = ["service"], sentiment = 0.4) {
  const second = SECOND[talks++ % SECOND.length]!;
  c.start();
  c.publish({
    kind: {
      case: "transcript",
      value: {
        sessionId: c.sessionId,
        segmentId: 1,
        isFinal: true,
        speechFinal: true,
        text: WORDS.join(" "),
        words: WORDS.map((text, i) => ({ text, startMs: 300 * i, endMs: 300 * i + 250 })),
        startMs: 0,
        endMs: 3000,
        stability: 1,
      },
    },
  });
  c.score(40, { topics, sentiment, through: 1 });
  c.publish({
    kind: { case: "aiTurn", value: { sessionId: c.sessionId, turn: 1, text: "Which till?", aimedAt: "specificity" } },
  });
  c.segment(2, second, true);
  c.score(finalScore - 5, { topics, sentiment, through: 2 });
  // A conversation lasts: its end is stamped after its start (in a warm process all of the above takes under 1 ms).
  await new Promise((resolve) => setTimeout(resolve, 5));
  c.end({ score: finalScore, topics, sentiment, relevance: 0.9 });
  await rig.records.flush();
}

beforeAll(async () => {
  rig = await recordsRig();
  ids.kafe = await rig.addBusiness("Kafé Sol", "centrum");
  await rig.records.sql`
    insert into stores (id, business_id, code, name, language, reward_policy)
    select gen_random_uuid(), ${ids.kafe}, 'sodermalm', 'Södermalm', 'sv-SE', reward_policy from stores where code = 'demo'`;
  ids.acme = await rig.addBusiness("Acme", "north");
  await rig.records.sql`
    insert into users (id, email, password_hash, role, business_id) values
      (gen_random_uuid(), 'owner@kafe.test', 'x', 'owner', ${ids.kafe}),
      (gen_random_uuid(), 'staff@kafe.test', 'x', 'staff', ${ids.kafe})`;
  history = new RecordsWallHistory(rig.records.wall);
  sendgrid = await SendGridTestDouble.start("SG.key");
  alerts = new AlertEngine({
    bus: rig.bus,
    broadcast: (topics, frame) => {
      const m = fromBinary(ServerMessageSchema, frame);
      if (m.kind.case === "alert") raised.push({ topics, alert: m.kind.value });
    },
    logger,
    lowScore: 0,
    negativeSentiment: -2,
    email: {
      mailer: new SendGridMailer({
        apiKey: "SG.key",
        apiUrl: sendgrid.url,
        from: "alerts@parley.test",
        retry: { maxRetry: 0, retryIntervalMs: 1, timeoutMs: 2_000 },
      }),
      recipients: new BusinessOwnerRecipients((id) => rig.records.wall.ownerEmails(id), ["Ops@Parley.test"]),
    },
    fraudRules: async (id) =>
      (await rig.records.wall.fraudFlags(id)).filter((f) => f.severity === "fraud").map((f) => f.rule),
  });
}, 60_000);
afterAll(async () => {
  alerts?.close();
  await sendgrid?.stop();
  await rig?.close();
});

describe("the wall's history from records", () => {
  const seen = { centrum: "", sodermalm: "", acme: "", fraud: "", empty: "" };

  beforeAll(async () => {
    const a = await rig.begin("centrum", ids.kafe, { receipt: "K-42" });
    await talk(a, 82, ["service", "waiting_time"], -0.4);
    seen.centrum = a.sessionId;
    const b = await rig.begin("sodermalm", ids.kafe);
    await talk(b, 61, ["cleanliness"], 0.5);
    seen.sodermalm = b.sessionId;
    const c = await rig.begin("north", ids.acme);
    await talk(c, 90);
    seen.acme = c.sessionId;
    // The same receipt again: records flags it as fraud and withholds the reward.
    const d = await rig.begin("centrum", ids.kafe, { receipt: "k-42" });
    await talk(d, 70);
    seen.fraud = d.sessionId;
    // Nothing said: a quality flag, not fraud.
    const e = await rig.begin("centrum", ids.kafe);
    e.start();
    e.segment(1, "hm", true);
    e.end({ score: 5 });
    await rig.records.flush();
    seen.empty = e.sessionId;
    await alerts.settled();
  }, 60_000);

  it("gives a business its own finished feedback, staff their stores, admins every business", async () => {
    const kafe = await recent(scope(ids.kafe), 50);
    expect(kafe.map((f) => f.sessionId)).toEqual([seen.empty, seen.fraud, seen.sodermalm, seen.centrum]);
    expect(kafe.every((f) => f.businessId === ids.kafe)).toBe(true);
    const staff = await recent(scope(ids.kafe, ["sodermalm"]), 50);
    expect(staff.map((f) => f.sessionId)).toEqual([seen.sodermalm]);
    const acme = await recent(scope(ids.acme), 50);
    expect(acme.map((f) => f.sessionId)).toEqual([seen.acme]);
    expect((await recent(scope(undefined), 50)).map((f) => f.sessionId)).toEqual(
      expect.arrayContaining([seen.acme, seen.centrum]),
    );
    // Another business's store named within a scope reads nothing.
    expect(await recent(scope(ids.acme, ["centrum"]), 50)).toEqual([]);

    const first = kafe.find((f) => f.sessionId === seen.centrum)!;
    expect(first).toMatchObject({
      storeCode: "centrum",
      language: "en-US",
      reason: EndReason.CUSTOMER,
      transcript: `${WORDS.join(" ")} the second one near the door`,
      rewardMinor: 2_000,
      currency: "SEK",
      rewardStatus: "claimable",
      rewardReason: "tier",
      fraudFlags: [],
      summary: "summary",
    });
    expect(first.finalScore).toMatchObject({ score: 82, isFinal: true, topics: ["service", "waiting_time"] });
    expect(first.endedAtMs).toBeGreaterThan(first.startedAtMs);
    expect(kafe.find((f) => f.sessionId === seen.fraud)).toMatchObject({
      rewardStatus: "withheld",
      rewardReason: "flagged",
      rewardMinor: 0,
      fraudFlags: ["duplicate_receipt"],
    });
    expect(kafe.find((f) => f.sessionId === seen.empty)).toMatchObject({
      rewardStatus: "withheld",
      fraudFlags: [],
      qualityFlags: ["empty"],
    });
  });

  it("reads one conversation back whole for the drill-down", async () => {
    const c = (await history.conversation(seen.centrum))!;
    expect(c.live).toBe(false);
    expect(c.segments.map((s) => s.text)).toEqual([WORDS.join(" "), "the second one near the door"]);
    expect(c.segments[0]!.words.map((w) => [w.text, w.startMs, w.endMs])).toEqual(
      WORDS.map((w, i) => [w, 300 * i, 300 * i + 250]),
    );
    expect(c.segments.every((s) => s.isFinal && s.sessionId === seen.centrum)).toBe(true);
    expect(c.aiTurns.map((t) => [t.turn, t.text, t.aimedAt])).toEqual([[1, "Which till?", "specificity"]]);
    expect(c.scoreTimeline.map((p) => p.score?.score)).toEqual([40, 77, 82]);
    expect(c.scoreTimeline.at(-1)!.score?.isFinal).toBe(true);
    expect(c.scoreTimeline[0]!.score?.throughSegmentId).toBe(1);
    expect(c.feedback?.rewardStatus).toBe("claimable");
    expect(await history.conversation(crypto.randomUUID())).toBeUndefined();
  });

  it("counts tiles and draws trends within the scope only", async () => {
    const kafe = await history.tiles(scope(ids.kafe), day());
    expect(kafe).toMatchObject({
      todayCount: 4,
      baselineCount: 0,
      fraudFlagsToday: 1,
      rewardThreshold: 40,
      currency: "SEK",
      paidTodayMinor: 0n,
      grantedTodayMinor: 2_000n + 1_000n, // 82 → 20 kr, 61 → 10 kr; withheld ones pay nothing
    });
    expect(kafe.shareAboveRewardThreshold).toBeCloseTo(3 / 4, 4); // 82, 61, 70 of 82, 61, 70, 5
    const staff = await history.tiles(scope(ids.kafe, ["sodermalm"]), day());
    expect(staff).toMatchObject({ todayCount: 1, fraudFlagsToday: 0, grantedTodayMinor: 1_000n });
    const acme = await history.tiles(scope(ids.acme), day());
    expect(acme).toMatchObject({ todayCount: 1, fraudFlagsToday: 0, grantedTodayMinor: 3_000n });

    const trends = await history.trends(scope(ids.kafe), TrendRange.DAYS_7, day());
    expect(trends.range).toBe(TrendRange.DAYS_7);
    expect(trends.buckets).toHaveLength(7);
    expect(trends.buckets.at(-1)?.count).toBe(4);
    const waiting = trends.topics.find((t) => t.topic === "waiting_time")!;
    expect(waiting).toMatchObject({ count: 1, negative: 1 });
    expect(waiting.averageSentiment).toBeCloseTo(-0.4, 4);
    expect(trends.topics.map((t) => t.topic)).not.toContain("atmosphere");
    const today = await history.trends(scope(ids.acme), TrendRange.UNSPECIFIED, day());
    expect(today.range).toBe(TrendRange.TODAY);
    expect(today.buckets).toHaveLength(24);
    expect(today.buckets.reduce((n, b) => n + b.count, 0)).toBe(1);
    expect(today.topics.map((t) => t.topic)).toEqual(["service"]);
  });

  it("raises a fraud alert for a conversation records flagged as fraud, and e-mails the business's owners", async () => {
    const fraud = raised.filter((r) => r.alert.kind === AlertKind.FRAUD_FLAGGED);
    expect(fraud).toHaveLength(1); // not for the empty one: poor quality is not fraud
    expect(fraud[0]!.alert).toMatchObject({
      sessionId: seen.fraud,
      businessId: ids.kafe,
      storeCode: "centrum",
      detail: "duplicate_receipt",
    });
    expect(fraud[0]!.topics).toEqual(["s/centrum", `b/${ids.kafe}`, "all"]);
    const mail = sendgrid.sent.find((m) => m.text.includes("duplicate_receipt"))!;
    expect(mail.to).toEqual(["owner@kafe.test", "ops@parley.test"]); // owners, not staff; then ALERT_EMAIL_TO
    // The decision published again (a retried end) raises nothing new.
    await rig.records.finalizer.finalize(seen.fraud);
    await alerts.settled();
    expect(raised.filter((r) => r.alert.kind === AlertKind.FRAUD_FLAGGED)).toHaveLength(1);
  });
});
