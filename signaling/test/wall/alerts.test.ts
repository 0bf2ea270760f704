// Alerts from live events, on the wall and by e-mail through SendGrid's API
// (spoken by SendGridTestDouble, a local test double of SendGrid).
import { create } from "@bufbuild/protobuf";
import { RewardStatus } from "@parley/proto/live";
import { AlertKind, AlertSchema } from "@parley/proto/wall";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import { AlertEngine } from "../../src/wall/alerts/AlertEngine.ts";
import { type AlertRecipients, MailError } from "../../src/wall/alerts/AlertMailer.ts";
import { alertsSince } from "../../src/wall/alerts/alertsSince.ts";
import { SendGridMailer } from "../../src/wall/alerts/SendGridMailer.ts";
import { WallHub } from "../../src/wall/WallHub.ts";
import { SendGridTestDouble } from "../sendgrid-test-double.ts";
import { FakeConversation } from "./events.ts";

/** The same list for every business (the node reads owners from records: BusinessOwnerRecipients). */
const fixedRecipients = (to: string[]): AlertRecipients => ({ forBusiness: async () => [...to] });

const KEY = "SG.test-key";
let sendgrid: SendGridTestDouble;
beforeAll(async () => {
  sendgrid = await SendGridTestDouble.start(KEY);
});
afterAll(async () => {
  await sendgrid?.stop();
});

const quick = { maxRetry: 2, retryIntervalMs: 5, timeoutMs: 2_000 };
const alert = create(AlertSchema, {
  kind: AlertKind.LOW_SCORE,
  businessId: "b",
  storeCode: "centrum",
  score: 12,
  atMs: 1n,
});

describe("the SendGrid mailer", () => {
  it("sends an alert as SendGrid expects it", async () => {
    const before = sendgrid.sent.length;
    const mailer = new SendGridMailer({ apiKey: KEY, apiUrl: sendgrid.url, from: "alerts@parley.se", retry: quick });
    await mailer.send(alert, ["owner@kafe.se", "manager@kafe.se"]);
    const mail = sendgrid.sent.at(-1)!;
    expect(sendgrid.sent.length).toBe(before + 1);
    expect(mail).toMatchObject({
      to: ["owner@kafe.se", "manager@kafe.se"],
      from: "alerts@parley.se",
      categories: ["parley-alert"],
    });
    expect(mail.subject).toContain("Low score");
    expect(mail.text).toContain("centrum");
    expect(mail.text).toContain("12/100");
  });

  it("does not retry a refused key, and retries SendGrid's own trouble", async () => {
    const wrong = new SendGridMailer({ apiKey: "SG.wrong", apiUrl: sendgrid.url, from: "a@b.se", retry: quick });
    const requests = sendgrid.requests;
    const refused = await wrong.send(alert, ["x@y.se"]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailError);
    expect((refused as MailError).status).toBe(401);
    expect(sendgrid.requests - requests).toBe(1);

    const mailer = new SendGridMailer({ apiKey: KEY, apiUrl: sendgrid.url, from: "a@b.se", retry: quick });
    const sent = sendgrid.sent.length;
    sendgrid.failNext(500, 429);
    await mailer.send(alert, ["x@y.se"]);
    expect(sendgrid.sent.length).toBe(sent + 1);
    sendgrid.failNext(500, 500, 500);
    const gaveUp = await mailer.send(alert, ["x@y.se"]).catch((e: unknown) => e);
    expect((gaveUp as MailError).retryable).toBe(true);
  });
});

describe("alerts from live conversations", () => {
  const bus = new LocalLiveBus(pino({ level: "silent" }));
  const broadcasts: { topics: readonly string[]; kind: string }[] = [];
  let engine: AlertEngine;
  beforeAll(() => {
    engine = makeEngine();
  });
  const makeEngine = () =>
    new AlertEngine({
      bus,
      broadcast: (topics) => broadcasts.push({ topics, kind: "alert" }),
      logger: pino({ level: "silent" }),
      lowScore: 30,
      negativeSentiment: -0.5,
      minWords: 5,
      topicSpike: { windowMs: 60_000, count: 3, coolOffMs: 60_000 },
      email: {
        mailer: new SendGridMailer({
          apiKey: KEY,
          apiUrl: sendgrid?.url ?? "http://127.0.0.1:1",
          from: "a@b.se",
          retry: quick,
        }),
        recipients: fixedRecipients(["owner@kafe.se"]),
      },
    });

  it("alerts once on a low score while the customer still talks, after enough words", async () => {
    const c = new FakeConversation(bus, "centrum", "kafe").start();
    c.segment(1, "bad", true);
    c.score(10, { through: 1 }); // too few words yet
    expect(engine.recent({ businessId: "kafe", storeCodes: undefined, publicScreen: false }, 0)).toHaveLength(0);
    c.segment(2, "the coffee was cold and old", true);
    c.score(15, { through: 2, sentiment: -0.8 });
    c.score(12, { through: 2, sentiment: -0.9 }); // the same conversation alerts once per kind
    const alerts = engine.recent({ businessId: "kafe", storeCodes: undefined, publicScreen: false }, 0);
    expect(alerts.map((a) => AlertKind[a.kind]).sort()).toEqual(["LOW_SCORE", "NEGATIVE_SENTIMENT"]);
    expect(alerts.every((a) => a.live && a.sessionId === c.sessionId)).toBe(true);
    expect(broadcasts.at(-1)?.topics).toEqual(["s/centrum", "b/kafe", "all"]);
    // Another business, or another store of a staff member, sees none of it.
    expect(engine.recent({ businessId: "other", storeCodes: undefined, publicScreen: false }, 0)).toHaveLength(0);
    expect(engine.recent({ businessId: "kafe", storeCodes: new Set(["north"]), publicScreen: false }, 0)).toHaveLength(
      0,
    );
  });

  it("alerts when one topic keeps coming up negatively, then cools off", () => {
    const ends = () => {
      const c = new FakeConversation(bus, "centrum", "spiky").start();
      c.end({ score: 20, sentiment: -0.7, topics: ["waiting_time"] });
    };
    ends();
    ends();
    const scope = { businessId: "spiky", storeCodes: undefined, publicScreen: false };
    expect(engine.recent(scope, 0)).toHaveLength(0);
    ends();
    ends();
    const spikes = engine.recent(scope, 0);
    expect(spikes).toHaveLength(1);
    expect(spikes[0]).toMatchObject({ kind: AlertKind.TOPIC_SPIKE, topic: "waiting_time", count: 3 });
  });

  it("raises the fraud rules' flags, and e-mails each alert", async () => {
    engine.fraudFlagged({ sessionId: "s9", businessId: "kafe", storeCode: "centrum", rule: "duplicate_device" });
    expect(engine.recent({ businessId: "kafe", storeCodes: undefined, publicScreen: false }, 0)[0]?.kind).toBe(
      AlertKind.FRAUD_FLAGGED,
    );
    await engine.settled();
    const mails = sendgrid.sent.filter((m) => m.to.includes("owner@kafe.se"));
    expect(mails.length).toBeGreaterThanOrEqual(4); // low score, negative, spike, fraud
    expect(mails.some((m) => m.text.includes("duplicate_device"))).toBe(true);
  });
});

describe("what the alert engine keeps", () => {
  it("forgets the alerts of a conversation whose customer deleted their data, on every node's engine", async () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const options = {
      bus,
      broadcast: () => {},
      logger: pino({ level: "silent" }),
      lowScore: 30,
      negativeSentiment: -0.5,
      minWords: 3,
      fraudRules: async () => ["duplicate_receipt"],
    };
    // Two nodes' engines hear the same bus (as through Redis); the hub publishes the deletion on it.
    const engines = [new AlertEngine(options), new AlertEngine(options)];
    const hub = new WallHub({
      bus,
      nodeId: "test-node",
      publish: () => {},
      logger: pino({ level: "silent" }),
      limits: { softLimitBytes: 1_000, dropPartialsBytes: 100_000, closeBytes: 1_000_000, stallTimeoutMs: 60_000 },
    });
    const scope = { businessId: "kafe", storeCodes: undefined, publicScreen: false };
    const deleted = new FakeConversation(bus, "centrum", "kafe").start();
    const kept = new FakeConversation(bus, "centrum", "kafe").start();
    for (const c of [deleted, kept]) {
      c.segment(1, "the coffee was cold", true);
      c.score(7, { through: 1, sentiment: -0.9 });
    }
    for (const engine of engines) expect(engine.recent(scope, 0)).toHaveLength(4);

    hub.broadcastToAllNodes("kafe", ["b/kafe"], new Uint8Array([1]), deleted.sessionId);
    for (const engine of engines) {
      const left = engine.recent(scope, 0);
      expect(left).toHaveLength(2);
      expect(left.every((a) => a.sessionId === kept.sessionId)).toBe(true);
    }
    // A withheld reward decided after the deletion raises nothing for it.
    deleted.publish({
      kind: { case: "reward", value: { sessionId: deleted.sessionId, status: RewardStatus.WITHHELD } },
    });
    for (const engine of engines) await engine.settled();
    for (const engine of engines)
      expect(engine.recent(scope, 0).some((a) => a.sessionId === deleted.sessionId)).toBe(false);
    hub.close();
    for (const engine of engines) engine.close();
  });

  it("shows in a snapshot only the alerts raised since the viewer's day began, its own and the kept ones", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    const dayStart = Date.UTC(2030, 2, 14, 23); // midnight in Stockholm (UTC+1)
    let now = dayStart - 9 * 3_600_000; // yesterday afternoon there
    const engine = new AlertEngine({
      bus,
      broadcast: () => {},
      logger: pino({ level: "silent" }),
      lowScore: 30,
      negativeSentiment: -0.5,
      now: () => now,
    });
    const scope = { businessId: "kafe", storeCodes: undefined, publicScreen: false };
    engine.fraudFlagged({
      sessionId: "yesterday",
      businessId: "kafe",
      storeCode: "centrum",
      rule: "duplicate_receipt",
    });
    now = dayStart + 3_600_000;
    engine.fraudFlagged({ sessionId: "today", businessId: "kafe", storeCode: "centrum", rule: "duplicate_receipt" });
    const kept = (sessionId: string, atMs: number) =>
      create(AlertSchema, {
        id: `k-${sessionId}`,
        kind: AlertKind.LOW_SCORE,
        businessId: "kafe",
        sessionId,
        atMs: BigInt(atMs),
      });
    const shown = engine
      .recent(scope, dayStart, [kept("kept-yesterday", dayStart - 1), kept("kept-today", dayStart)])
      .map((a) => a.sessionId);
    expect(shown).toEqual(["today", "kept-today"]);
    expect(engine.recent(scope, 0).map((a) => a.sessionId)).toEqual(["today", "yesterday"]);
    engine.close();
  });

  it("forgets conversations whose node died without an end, and topics out of their window", () => {
    const bus = new LocalLiveBus(pino({ level: "silent" }));
    let now = 1_000_000;
    const engine = new AlertEngine({
      bus,
      broadcast: () => {},
      logger: pino({ level: "silent" }),
      lowScore: 30,
      negativeSentiment: -0.5,
      topicSpike: { windowMs: 60_000, count: 3, coolOffMs: 60_000 },
      now: () => now,
    });
    const minutes = (n: number) => n * 60_000;
    // One conversation whose node died mid-way (no end ever comes), one that keeps talking.
    const orphan = new FakeConversation(bus, "centrum", "kafe").start();
    orphan.segment(1, "the coffee was cold", true);
    const talking = new FakeConversation(bus, "centrum", "kafe").start();
    // Negative conversations about free-text topics: one spikes, one does not.
    for (const topic of ["parking", "queue", "queue", "queue"])
      new FakeConversation(bus, "centrum", "kafe").start().end({ score: 20, sentiment: -0.7, topics: [topic] });
    expect(engine.tracked).toEqual({ conversations: 2, topics: 2 });

    now += minutes(30);
    talking.segment(1, "still here and talking about the coffee", true);
    expect(engine.tracked.conversations).toBe(2);

    now += minutes(31); // the orphan silent for 61 minutes, the other for 31
    talking.segment(2, "and still talking", true);
    expect(engine.tracked).toEqual({ conversations: 1, topics: 0 });
    // The one that stayed still alerts as before.
    talking.score(10, { through: 2, sentiment: -0.9 });
    expect(engine.recent({ businessId: "kafe", storeCodes: undefined, publicScreen: false }, 0)[0]).toMatchObject({
      sessionId: talking.sessionId,
      live: true,
    });
    engine.close();
  });
});

describe("the day of alerts a snapshot shows", () => {
  const now = Date.UTC(2030, 6, 15, 10, 30); // 12:30 in Stockholm (summer time, UTC+2)
  it("begins at the viewer's midnight, in their zone or at their offset", () => {
    expect(alertsSince({ timeZone: "Europe/Stockholm", utcOffsetMinutes: undefined }, now)).toBe(
      Date.UTC(2030, 6, 14, 22),
    );
    expect(alertsSince({ timeZone: "", utcOffsetMinutes: 120 }, now)).toBe(Date.UTC(2030, 6, 14, 22));
    // UTC itself is a day too (an offset of 0 that the dashboard stated).
    expect(alertsSince({ timeZone: "", utcOffsetMinutes: 0 }, now)).toBe(Date.UTC(2030, 6, 15));
    // A zone this node does not know: the offset sent with it.
    expect(alertsSince({ timeZone: "Mars/Olympus", utcOffsetMinutes: -300 }, now)).toBe(Date.UTC(2030, 6, 15, 5));
  });

  it("is the last 24 hours for a dashboard that does not say its day, or says nonsense", () => {
    expect(alertsSince({ timeZone: "", utcOffsetMinutes: undefined }, now)).toBe(now - 24 * 3_600_000);
    expect(alertsSince({ timeZone: "Mars/Olympus", utcOffsetMinutes: 100_000 }, now)).toBe(now - 24 * 3_600_000);
  });
});
