// Rewards: tiers, cap, minimum quality and the business's daily budget; the
// decision is made once and reaches the customer as a RewardUpdate.
import { randomUUID } from "node:crypto";
import { type LiveEvent, RewardStatus } from "@parley/proto/live";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type PublishTarget, type Records } from "../src/index.ts";
import { applyBudget, parsePolicy, rewardForScore } from "../src/rewards/policy.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { Conversation, openRecords, startCluster, uniqueFeedback } from "./helpers.ts";

describe("reward policy", () => {
  const policy = {
    minQuality: 40,
    tiers: [
      { minScore: 40, amountMinor: 500 },
      { minScore: 60, amountMinor: 1000 },
      { minScore: 80, amountMinor: 5000 },
    ],
    capMinor: 2000,
  };
  it("pays nothing below the minimum quality, then the highest tier reached, capped", () => {
    expect(rewardForScore(policy, 39)).toEqual({ amountMinor: 0, reason: "below_minimum_quality" });
    expect(rewardForScore(policy, 40)).toEqual({ amountMinor: 500, reason: "tier" });
    expect(rewardForScore(policy, 59)).toEqual({ amountMinor: 500, reason: "tier" });
    expect(rewardForScore(policy, 60)).toEqual({ amountMinor: 1000, reason: "tier" });
    expect(rewardForScore(policy, 95)).toEqual({ amountMinor: 2000, reason: "tier" }); // 50 kr tier, capped at 20 kr
    expect(rewardForScore({ ...policy, minQuality: 70 }, 65)).toEqual({
      amountMinor: 0,
      reason: "below_minimum_quality",
    });
  });
  it("pays a reward whole or not at all within the daily budget", () => {
    expect(applyBudget({ amountMinor: 1000, reason: "tier" }, 5000, 4000)).toEqual({
      amountMinor: 1000,
      reason: "tier",
    });
    expect(applyBudget({ amountMinor: 1000, reason: "tier" }, 5000, 4500)).toEqual({
      amountMinor: 0,
      reason: "budget_exhausted",
    });
  });
  it("refuses malformed policies with a message saying what is wrong", () => {
    expect(() =>
      parsePolicy({
        ...policy,
        tiers: [
          { minScore: 60, amountMinor: 1 },
          { minScore: 50, amountMinor: 2 },
        ],
      }),
    ).toThrow(/ascending/);
    expect(() => parsePolicy({ ...policy, capMinor: -1 })).toThrow(/capMinor/);
    expect(() => parsePolicy({ ...policy, minQuality: 101 })).toThrow(/minQuality/);
    expect(parsePolicy(DEFAULT_POLICY)).toEqual(DEFAULT_POLICY);
  });
});

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

async function setup(now?: () => number) {
  const published: { target: PublishTarget; event: LiveEvent }[] = [];
  const records = await openRecords(await pg.createDatabase(), {
    publish: (target, event) => published.push({ target, event }),
    ...(now ? { now } : {}),
  });
  return { records, published };
}

let conversations = 0;
async function converse(records: Records, score: number, lines = uniqueFeedback(++conversations)) {
  const c = new Conversation();
  await records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: `10.0.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`,
  });
  records.write(c.started());
  for (const [i, line] of lines.entries()) records.write(c.segment(i + 1, line));
  records.write(c.ended(score));
  await records.flush();
  return c;
}

describe("reward decisions", () => {
  it("decide from the final score and the store's policy, and publish it on the session's topic", async () => {
    const { records, published } = await setup();
    try {
      const c = await converse(records, 77); // DEFAULT_POLICY: 75+ → 20 kr
      const reward = published.find((p) => p.event.kind.case === "reward");
      expect(reward?.target).toEqual({
        sessionId: c.sessionId,
        storeCode: "demo",
        businessId: records.demo!.businessId,
      });
      expect(reward?.event.kind.value).toMatchObject({
        status: RewardStatus.GRANTED,
        amountMinor: 2000,
        currency: "SEK",
        reason: "tier",
        // No Stripe in this setup: the reward is kept, and the customer is told it is not paid out here.
        payoutsUnavailable: true,
      });
      const [row] = await records.sql`select amount_minor, status from rewards where session_id = ${c.sessionId}`;
      expect(row).toEqual({ amount_minor: 2000, status: "claimable" });

      const low = await converse(records, 30);
      const none = published.find((p) => p.target.sessionId === low.sessionId);
      expect(none?.event.kind.value).toMatchObject({
        status: RewardStatus.NONE,
        amountMinor: 0,
        reason: "below_minimum_quality",
        payoutsUnavailable: false,
      });
    } finally {
      await records.close();
    }
  });

  it("observe reward_amount_sek only for rewards in SEK (a euro reward is not a 0 SEK one)", async () => {
    const { records, published } = await setup();
    const observed = async () =>
      (await register.getSingleMetric("reward_amount_sek")!.get()).values.find(
        (v) => (v as { metricName?: string }).metricName === "reward_amount_sek_count",
      )?.value ?? 0;
    try {
      const before = await observed();
      await converse(records, 77);
      expect(await observed()).toBe(before + 1);
      await records.sql`update businesses set currency = 'EUR' where id = ${records.demo!.businessId}`;
      const euro = await converse(records, 77);
      const reward = published.find((p) => p.target.sessionId === euro.sessionId && p.event.kind.case === "reward");
      expect(reward?.event.kind.value).toMatchObject({ status: RewardStatus.GRANTED, currency: "EUR" });
      expect(await observed()).toBe(before + 1);
    } finally {
      await records.close();
    }
  });

  it("decide once: a second end or a recovery sweep re-publishes the same decision", async () => {
    const { records, published } = await setup();
    try {
      const c = await converse(records, 65);
      records.write(c.ended(99)); // a duplicate end with another score changes nothing
      await records.flush();
      await records.finalizer.finalize(c.sessionId);
      expect(await records.finalizer.recover()).toBe(0);
      const rewards = await records.sql`select amount_minor from rewards where session_id = ${c.sessionId}`;
      expect(rewards).toEqual([{ amount_minor: 1000 }]);
      const events = published.filter((p) => p.target.sessionId === c.sessionId);
      expect(events.length).toBeGreaterThanOrEqual(2);
      for (const e of events) expect(e.event.kind.value).toMatchObject({ amountMinor: 1000 });
    } finally {
      await records.close();
    }
  });

  it("stop paying when the business's daily budget is spent, and start again the next day in its time zone", async () => {
    let now = Date.parse("2026-03-10T10:00:00Z");
    const { records } = await setup(() => now);
    try {
      await records.sql`update businesses set daily_budget_minor = 5000, time_zone = 'Europe/Stockholm'`;
      const amounts: number[] = [];
      for (let i = 0; i < 4; i++) {
        const c = await converse(records, 80); // 20 kr each
        const [r] = await records.sql<
          { amount_minor: number; reason: string }[]
        >`select amount_minor, reason from rewards where session_id = ${c.sessionId}`;
        amounts.push(r!.amount_minor);
        if (i === 3) expect(r!.reason).toBe("budget_exhausted");
      }
      expect(amounts).toEqual([2000, 2000, 0, 0]);
      now = Date.parse("2026-03-10T22:59:00Z"); // 23:59 in Stockholm: still the same day
      const c1 = await converse(records, 80);
      now = Date.parse("2026-03-10T23:01:00Z"); // 00:01 in Stockholm: a new day
      const c2 = await converse(records, 80);
      const rows = await records.sql<{ session_id: string; amount_minor: number }[]>`
        select session_id, amount_minor from rewards where session_id in (${c1.sessionId}, ${c2.sessionId})`;
      const bySession = Object.fromEntries(rows.map((r) => [r.session_id, r.amount_minor]));
      expect(bySession[c1.sessionId]).toBe(0);
      expect(bySession[c2.sessionId]).toBe(2000);
    } finally {
      await records.close();
    }
  });

  it("never overspend the budget when many conversations end at once", async () => {
    const { records } = await setup();
    try {
      await records.sql`update businesses set daily_budget_minor = 10000`;
      await Promise.all(Array.from({ length: 12 }, () => converse(records, 80)));
      const [sum] = await records.sql<{ total: number; paid: number }[]>`
        select sum(amount_minor)::int as total, count(*) filter (where amount_minor > 0)::int as paid from rewards`;
      expect(sum).toEqual({ total: 10000, paid: 5 });
    } finally {
      await records.close();
    }
  });
});
