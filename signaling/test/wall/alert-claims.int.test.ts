// One e-mail per alert however many nodes raise it: the claims (in process,
// and in a real Redis shared by two connections as two nodes share it), and
// two alert engines hearing the same conversations as two nodes do, e-mailing
// through SendGrid's API as spoken by SendGridTestDouble (a local test double).
import { AlertKind } from "@parley/proto/wall";
import { Redis } from "ioredis";
import pino from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { RedisRateLimiter } from "../../src/edge/RedisRateLimiter.ts";
import { LocalLiveBus } from "../../src/live/LocalLiveBus.ts";
import type { AlertEmailClaim, AlertEmailClaims } from "../../src/wall/alerts/AlertEmailClaims.ts";
import { AlertEngine } from "../../src/wall/alerts/AlertEngine.ts";
import { LocalAlertEmailClaims } from "../../src/wall/alerts/LocalAlertEmailClaims.ts";
import { RedisAlertEmailClaims } from "../../src/wall/alerts/RedisAlertEmailClaims.ts";
import { SendGridMailer } from "../../src/wall/alerts/SendGridMailer.ts";
import { RedisServer } from "../redis-server.ts";
import { SendGridTestDouble } from "../sendgrid-test-double.ts";
import { FakeConversation } from "./events.ts";

const KEY = "SG.test-key";
const logger = pino({ level: "silent" });
let sendgrid: SendGridTestDouble;
let redis: RedisServer;
const connections: Redis[] = [];
/** A node's shared-state connection, as ParleyServer makes it (fails fast while Redis is away). */
const connect = () => {
  const c = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
  c.on("error", () => {});
  connections.push(c);
  return c.connect().then(() => c);
};

beforeAll(async () => {
  sendgrid = await SendGridTestDouble.start(KEY);
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const c of connections) c.disconnect();
  await redis?.stop();
  await sendgrid?.stop();
});

describe("alert e-mail claims", () => {
  it("in process: one claim per key until it expires", async () => {
    let now = 1_000;
    const claims = new LocalAlertEmailClaims(() => now);
    expect(await claims.claim("LOW_SCORE:s1", 60_000)).toBe("claimed");
    expect(await claims.claim("LOW_SCORE:s1", 60_000)).toBe("taken");
    expect(await claims.claim("NEGATIVE_SENTIMENT:s1", 60_000)).toBe("claimed");
    now += 60_000;
    expect(await claims.claim("LOW_SCORE:s1", 60_000)).toBe("claimed");
  });

  it("in Redis: one node wins, the key expires with its claim, and Redis away means sending unclaimed", async () => {
    const a = new RedisAlertEmailClaims({ redis: await connect(), logger, prefix: "t1:" });
    const b = new RedisAlertEmailClaims({ redis: await connect(), logger, prefix: "t1:" });
    const results = await Promise.all([a.claim("FRAUD_FLAGGED:s2", 60_000), b.claim("FRAUD_FLAGGED:s2", 60_000)]);
    expect(results.sort()).toEqual(["claimed", "taken"]);
    expect(await b.claim("FRAUD_FLAGGED:s3", 60_000)).toBe("claimed");
    const ttl = await connections[0]!.pttl("t1:FRAUD_FLAGGED:s2");
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);

    await redis.kill();
    try {
      expect(await a.claim("LOW_SCORE:s4", 60_000)).toBe("unclaimed");
    } finally {
      await redis.start();
    }
  });
});

describe("two nodes' alert engines on one conversation stream", () => {
  let engines: AlertEngine[] = [];
  const bus = new LocalLiveBus(logger);

  /** Node-like engines on one bus, each with its own claims/limit objects over the shared state. */
  const nodes = (claims: () => Promise<AlertEmailClaims>, max = 20) =>
    Promise.all(
      ["node-a", "node-b"].map(async () => {
        const redisConnection = await connect();
        return new AlertEngine({
          bus,
          broadcast: () => {},
          logger,
          lowScore: 30,
          negativeSentiment: -0.5,
          minWords: 3,
          topicSpike: { windowMs: 60_000, count: 2, coolOffMs: 60_000 },
          email: {
            mailer: new SendGridMailer({ apiKey: KEY, apiUrl: sendgrid.url, from: "alerts@parley.se" }),
            recipients: { forBusiness: async (businessId) => [`owner@${businessId}.se`] },
            claims: await claims(),
            limit: new RedisRateLimiter({
              name: "alert-emails",
              windowMs: 3_600_000,
              max,
              redis: redisConnection,
              logger,
              prefix: `rl-${prefixes}:`,
            }),
          },
        });
      }),
    );
  let prefixes = 0;
  const settled = () => Promise.all(engines.map((e) => e.settled()));
  const mailsFor = (business: string) => sendgrid.sent.filter((m) => m.to.includes(`owner@${business}.se`));
  afterEach(() => {
    for (const e of engines) e.close();
    engines = [];
  });

  it("e-mails each alert once, while both raise it for their own dashboards", async () => {
    prefixes++;
    const prefix = `c${prefixes}:`;
    engines = await nodes(async () => new RedisAlertEmailClaims({ redis: await connect(), logger, prefix }));
    const c = new FakeConversation(bus, "centrum", "kafe-1").start();
    c.segment(1, "the coffee was cold", true);
    c.score(12, { through: 1, sentiment: -0.9 }); // low score and negative: two alerts
    const ended = () =>
      new FakeConversation(bus, "centrum", "kafe-1").start().end({ score: 20, sentiment: -0.8, topics: ["price"] });
    ended();
    ended(); // a topic spike
    for (const e of engines)
      e.fraudFlagged({ sessionId: c.sessionId, businessId: "kafe-1", storeCode: "centrum", rule: "duplicate_receipt" });
    await settled();
    const scope = { businessId: "kafe-1", storeCodes: undefined, publicScreen: false };
    for (const e of engines)
      expect(
        e
          .recent(scope, 0)
          .map((a) => AlertKind[a.kind])
          .sort(),
      ).toEqual(["FRAUD_FLAGGED", "LOW_SCORE", "NEGATIVE_SENTIMENT", "TOPIC_SPIKE"]);
    const subjects = mailsFor("kafe-1").map((m) => m.subject);
    expect(subjects).toHaveLength(4);
    expect(new Set(subjects).size).toBe(4);
  });

  it("counts the hourly limit per business across both nodes", async () => {
    prefixes++;
    const prefix = `c${prefixes}:`;
    engines = await nodes(async () => new RedisAlertEmailClaims({ redis: await connect(), logger, prefix }), 2);
    const before = mailsFor("kafe-2").length;
    for (let i = 0; i < 4; i++) {
      const c = new FakeConversation(bus, "centrum", "kafe-2").start();
      c.segment(1, "slow and rude staff", true);
      c.score(10, { through: 1 });
    }
    await settled();
    for (const e of engines)
      expect(e.recent({ businessId: "kafe-2", storeCodes: undefined, publicScreen: false }, 0)).toHaveLength(4);
    expect(mailsFor("kafe-2").length - before).toBe(2);
  });

  it("sends from every node rather than from none when nobody can be asked", async () => {
    const unreachable: AlertEmailClaims = { claim: async (): Promise<AlertEmailClaim> => "unclaimed" };
    engines = await nodes(async () => unreachable);
    const before = mailsFor("kafe-3").length;
    const c = new FakeConversation(bus, "centrum", "kafe-3").start();
    c.segment(1, "never coming back here", true);
    c.score(5, { through: 1 });
    await settled();
    expect(mailsFor("kafe-3").length - before).toBe(2);
  });
});
