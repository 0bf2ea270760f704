// The records sweep on a real PostgreSQL 15: reward decisions a crash or a
// failure left undone are made by the sweep, but only once the node that ended
// the session (and holds its audio fingerprint) has had its turn, and only for
// sessions ended within a bounded window; one failing decision does not stop
// the others or the payout sweep; a sweep still running is not joined by
// another; and a session its node lost is ended once, and rewarded on the
// last score it reached.
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { feedbackCsvPages } from "../src/http/feedbackCsv.ts";
import type { Records } from "../src/index.ts";
import { endUnendedSessions, UNENDED_MARGIN_MS } from "../src/rewards/unendedSessions.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import {
  Conversation,
  capturingLogger,
  openRecords,
  recording,
  replayed,
  startCluster,
  uniqueFeedback,
} from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());
afterEach(() => {
  vi.restoreAllMocks();
});

const MINUTE = 60_000;
/** Payouts configured, Stripe never reached: the tests below stub or find nothing to pay. */
const STRIPE = {
  secretKey: "sk_test_unreached",
  webhookSecret: "whsec_unreached",
  returnUrl: "http://localhost:8080/?claimed={session}",
  host: "127.0.0.1",
  port: 9,
  protocol: "http" as const,
};

type LogLine = { level: number; msg: string; sessionId?: string; err?: { message: string } };

let seed = 31_000;
/** A conversation to its end, as far as the writer's commit (not waiting for its reward decision). */
async function converse(records: Records, audio?: Int16Array): Promise<string> {
  const { c } = await talking(records, audio);
  records.write(c.ended(80));
  expect(await records.writer.drain(10_000)).toBe(true);
  return c.sessionId;
}

/**
 * A conversation begun, with consent, and its customer's words written: its end is the caller's.
 * `dataCode`: the customer's key to their session and its reward.
 */
async function talking(records: Records, audio?: Int16Array): Promise<{ c: Conversation; dataCode: string }> {
  const c = new Conversation();
  const { dataCode } = await records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: `10.31.${seed % 250}.${++seed % 250}`,
  });
  records.write(c.started());
  if (audio) {
    const tap = records.audioTap(c.sessionId);
    for (let i = 0; i < audio.length; i += 320) tap.push(audio.subarray(i, i + 320));
  }
  for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
  return { c, dataCode };
}

/** Ends sessions whose own decision fails (as if their node crashed before it): none is decided. */
async function undecided(records: Records, n: number): Promise<string[]> {
  const finalize = vi.spyOn(records.finalizer, "tryFinalize").mockRejectedValue(new Error("the node went away"));
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(await converse(records));
  await records.flush();
  finalize.mockRestore();
  expect(await decided(records, ids)).toEqual([]);
  return ids;
}

const decided = async (records: Records, ids: string[]) =>
  (await records.sql<{ session_id: string }[]>`select session_id from rewards where session_id = any(${ids}::uuid[])`)
    .map((r) => r.session_id)
    .sort();

describe("reward recovery", () => {
  it("leaves a session that ended moments ago to its node, which decides it with the audio fingerprint", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), { now: () => now });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      const original = recording("sense_and_sensibility_01_austen_64kb-0870.wav");
      await converse(records, original);
      await records.flush();
      // The replay's end is committed; its node's decision, with the fingerprint, is still queued…
      const tryFinalize = records.finalizer.tryFinalize.bind(records.finalizer);
      vi.spyOn(records.finalizer, "tryFinalize").mockImplementation(async (id, fingerprint) => {
        if (fingerprint) await gate;
        return tryFinalize(id, fingerprint);
      });
      const replay = await converse(records, replayed(original, 3000, 0.5, 500));
      // …when a sweep comes by (any node's: it runs every minute on each).
      now = Date.now() + 30_000;
      expect(await records.finalizer.recover()).toBe(0);
      expect(await decided(records, [replay])).toEqual([]);
      release();
      await records.flush();
      const flags = await records.sql`select rule from fraud_flags where session_id = ${replay}`;
      expect(flags.map((f) => f.rule)).toEqual(["replayed_audio"]);
      const [kept] = await records.sql`select count(*)::int as n from audio_fingerprints where session_id = ${replay}`;
      expect(kept!.n).toBe(1);
    } finally {
      release();
      await records.close();
    }
  });

  it("decides a session whose decision failed once that grace has passed, within a bounded window", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), { now: () => now });
    try {
      const [recent, old] = (await undecided(records, 2)) as [string, string];
      // An end recorded four days ago and never decided since: beyond the window the sweep reads.
      await records.sql`update sessions set ended_at = ended_at - interval '4 days' where id = ${old}`;
      expect(await records.finalizer.recover()).toBe(0); // `recent` ended moments ago
      now = Date.now() + 2 * MINUTE + 1_000;
      expect(await records.finalizer.recover()).toBe(1);
      expect(await decided(records, [recent, old])).toEqual([recent]);
      // Within the window a session waiting days (a decision failing until its cause was fixed) is decided.
      await records.sql`update sessions set ended_at = now() - interval '2 days' where id = ${old}`;
      expect(await records.finalizer.recover()).toBe(1);
      expect(await decided(records, [recent, old])).toEqual([recent, old].sort());
    } finally {
      await records.close();
    }
  });

  it("goes on past a session whose decision throws, logs each failure with its session id, and stops at a database error", async () => {
    let now = Date.now();
    const { logger, lines } = capturingLogger<LogLine>();
    const records = await openRecords(await pg.createDatabase(), { now: () => now, logger });
    try {
      // Oldest first: broken fails for good, fine is decided, flaky meets a lost connection, last waits.
      const [broken, fine, flaky, last] = (await undecided(records, 4)) as [string, string, string, string];
      now = Date.now() + 3 * MINUTE;
      const finalize = records.finalizer.finalize.bind(records.finalizer);
      const spy = vi.spyOn(records.finalizer, "finalize").mockImplementation(async (id, fingerprint) => {
        if (id === broken) throw new Error("the store's reward policy cannot be read");
        if (id === flaky) throw Object.assign(new Error("connection lost"), { code: "08006" });
        return finalize(id, fingerprint);
      });
      expect(await records.finalizer.recover()).toBe(4);
      expect(await decided(records, [broken, fine, flaky, last])).toEqual([fine]);
      expect(spy.mock.calls.map(([id]) => id)).toEqual([broken, fine, flaky]); // none tried after the lost connection
      const failures = lines.filter((l) => l.msg.startsWith("records: recovering a reward decision failed"));
      expect(failures.map((l) => [l.sessionId, l.err?.message])).toEqual([
        [broken, "the store's reward policy cannot be read"],
        [flaky, "connection lost"],
      ]);
      // The next sweep goes on.
      spy.mockRestore();
      expect(await records.finalizer.recover()).toBe(3);
      expect(await decided(records, [broken, fine, flaky, last])).toEqual([broken, fine, flaky, last].sort());
    } finally {
      await records.close();
    }
  });
});

describe("a session whose opening row comes after its end", () => {
  it("is decided, with its consent and by its node with the fingerprint, once the row arrives", async () => {
    // After a database outage, the queue of the node that created the session (its consent, data
    // code and fingerprints) may drain after the queue of the node it lived on (its end).
    const records = await openRecords(await pg.createDatabase());
    try {
      const c = new Conversation();
      records.write(c.started());
      const tap = records.audioTap(c.sessionId);
      const audio = recording("sense_and_sensibility_01_austen_64kb-0870.wav");
      for (let i = 0; i < audio.length; i += 320) tap.push(audio.subarray(i, i + 320));
      for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
      records.write(c.ended(80));
      await records.flush();
      expect(await decided(records, [c.sessionId])).toEqual([]);
      // Nor does a sweep decide it without consent.
      expect(await records.finalizer.recover()).toBe(0);

      await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
        deviceId: randomUUID(),
        ip: "10.32.0.1",
      });
      expect(await records.writer.drain(10_000)).toBe(true);
      await expect.poll(() => decided(records, [c.sessionId])).toEqual([c.sessionId]);
      await records.flush();
      const [reward] = await records.sql`select status, reason from rewards where session_id = ${c.sessionId}`;
      expect(reward).toMatchObject({ status: "claimable", reason: "tier" });
      const [kept] =
        await records.sql`select count(*)::int as n from audio_fingerprints where session_id = ${c.sessionId}`;
      expect(kept!.n).toBe(1);
    } finally {
      await records.close();
    }
  });
});

describe("the records sweep", () => {
  it("retries payments though the recovery before it failed", async () => {
    const { logger, lines } = capturingLogger<LogLine>();
    const records = await openRecords(await pg.createDatabase(), { stripe: STRIPE, sweepIntervalMs: 20, logger });
    try {
      vi.spyOn(records.finalizer, "recover").mockRejectedValue(new Error("recovery failed"));
      const sweep = vi.spyOn(records.payouts!, "sweep").mockResolvedValue(0);
      await vi.waitFor(() => expect(sweep).toHaveBeenCalled(), { timeout: 5_000 });
      expect(lines.some((l) => l.err?.message === "recovery failed")).toBe(true);
    } finally {
      await records.close();
    }
  });

  it("ends a session no node will end (its node died) once it can no longer be going, and decides it: no score heard, none", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), { now: () => now, sweepIntervalMs: 20 });
    try {
      const begin = async () => {
        const { c } = await talking(records);
        expect(await records.writer.drain(10_000)).toBe(true);
        return c.sessionId;
      };
      const orphan = await begin();
      const status = async (id: string) =>
        (
          await records.sql<{ status: string; end_reason: string | null; ended_at: Date | null }[]>`
          select status, end_reason, ended_at from sessions where id = ${id}`
        )[0]!;
      // Sweeps come by while it could still be going (or its end be queued behind an outage): it stays open.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await status(orphan)).status).toBe("open");
      // One that may still be going when the clock moves on (created two hours "later"), made before
      // the clock moves: a sweep between its creation and the update would end it.
      const young = await begin();
      await records.sql`update sessions set created_at = created_at + interval '2 hours' where id = ${young}`;
      // Past the live limit and the writer's margin: ended, at its last heard moment, and decided.
      now = Date.now() + 20 * MINUTE + UNENDED_MARGIN_MS + 5 * MINUTE;
      await vi.waitFor(async () => expect(await decided(records, [orphan])).toEqual([orphan]), { timeout: 10_000 });
      const ended = await status(orphan);
      expect(ended).toMatchObject({ status: "ended", end_reason: "NODE_LOST" });
      expect(ended.ended_at!.getTime()).toBeLessThan(Date.now() + 1_000);
      const [reward] = await records.sql<{ amount_minor: number; reason: string }[]>`
        select amount_minor, reason from rewards where session_id = ${orphan}`;
      expect(reward).toMatchObject({ amount_minor: 0, reason: "no_score" });
      expect((await status(young)).status).toBe("open");
    } finally {
      await records.close();
    }
  });

  it("rewards a session its node lost on the last score it reached, as its customer finds with the data code", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), { now: () => now, sweepIntervalMs: 20 });
    const http = await serveRoutes(records.routes);
    try {
      // Scored as it went, then its node died: no end, and so no final score, is ever written.
      const lost = async (...scores: number[]) => {
        const { c, dataCode } = await talking(records);
        for (const score of scores) records.write(c.score(score));
        expect(await records.writer.drain(10_000)).toBe(true);
        return { sessionId: c.sessionId, dataCode };
      };
      // The latest by seq, not the highest: 80 (20 kr) was heard before 65 (10 kr).
      const rewarded = await lost(50, 80, 65);
      const low = await lost(70, 30); // below the default policy's minimum quality, 40
      now = Date.now() + 20 * MINUTE + UNENDED_MARGIN_MS + 5 * MINUTE;
      const ids = [rewarded.sessionId, low.sessionId];
      await vi.waitFor(async () => expect(await decided(records, ids)).toEqual([...ids].sort()), { timeout: 10_000 });

      // The customer comes back later with their data code alone, and finds a reward to claim.
      const lookup = await fetch(`${http.url}/api/customer/lookup`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ dataCode: rewarded.dataCode }),
      });
      expect(await lookup.json()).toEqual({ sessionId: rewarded.sessionId });
      const reward = await fetch(`${http.url}/api/customer/sessions/${rewarded.sessionId}/reward`, {
        headers: { "x-parley-data-code": rewarded.dataCode },
      });
      expect(await reward.json()).toMatchObject({
        reward: { status: "claimable", amountMinor: 1_000, reason: "tier" },
      });
      const [below] =
        await records.sql`select status, amount_minor, reason from rewards where session_id = ${low.sessionId}`;
      expect(below).toMatchObject({ status: "none", amount_minor: 0, reason: "below_minimum_quality" });

      // The business sees the score it was rewarded on, the conversation told as lost, no summary made up,
      // and the score's course as it was heard (no final point the conversation never reached).
      const conversation = (await records.wall.conversation(rewarded.sessionId))!;
      expect(conversation.feedback).toMatchObject({
        endReason: "NODE_LOST",
        finalScore: { score: 65, relevance: 0.9, topics: ["service"] },
        summary: "",
        reward: { status: "claimable", amountMinor: 1_000 },
      });
      expect(conversation.timeline.map((p) => p.score.score)).toEqual([50, 80, 65]);
      const history = (await records.wall.page({ businessId: undefined, storeCodes: undefined }, 10)).feedback;
      expect(history.find((f) => f.sessionId === rewarded.sessionId)?.finalScore?.score).toBe(65);
      // The export alike: reason, the last heard score, an empty summary, the reward.
      const [session] = await records.sql<{ business_id: string }[]>`
        select business_id from sessions where id = ${rewarded.sessionId}`;
      let csv = "";
      for await (const page of feedbackCsvPages(records.sql, {
        businessId: session!.business_id,
        stores: records.sql`true`,
        from: undefined,
        to: { date: new Date(now) },
      }))
        csv += page.csv.toString();
      const line = csv.split("\r\n").find((l) => l.startsWith(rewarded.sessionId));
      expect(line).toMatch(/^[^,]+,demo,[^,]+,[^,]+,NODE_LOST,65,0\.5,0\.5,0\.2,0\.9,service,,/);
      expect(line).toMatch(/,1000,SEK,claimable,$/);
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("ends a lost session once when two nodes sweep at the same moment", async () => {
    const url = await pg.createDatabase();
    const [a, b] = [await openRecords(url), await openRecords(url)];
    try {
      const { c } = await talking(a);
      a.write(c.score(72));
      expect(await a.writer.drain(10_000)).toBe(true);
      const later = Date.now() + 2 * UNENDED_MARGIN_MS;
      let second: Promise<string[]> | undefined;
      await a.sql.begin(async (tx) => {
        expect(await endUnendedSessions(tx, later, MINUTE)).toEqual([c.sessionId]);
        // The other node's sweep read the session as open and waits on its row, until this one commits.
        second = endUnendedSessions(b.sql, later, MINUTE);
        await vi.waitFor(
          async () => {
            const [waiting] = await a.sql<{ n: number }[]>`
              select count(*)::int as n from pg_stat_activity
              where wait_event_type = 'Lock' and query like '%NODE_LOST%'`;
            expect(waiting!.n).toBe(1);
          },
          { timeout: 10_000 },
        );
      });
      expect(await second).toEqual([]);
      const [scores] = await a.sql<{ n: number; score: number }[]>`
        select count(*)::int as n, max(score)::int as score from final_scores where session_id = ${c.sessionId}`;
      expect(scores).toEqual({ n: 1, score: 72 });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it("skips its ticks while the last sweep still runs (Stripe hanging)", async () => {
    const records = await openRecords(await pg.createDatabase(), { stripe: STRIPE, sweepIntervalMs: 10 });
    try {
      let release!: (paid: number) => void;
      const hanging = new Promise<number>((resolve) => {
        release = resolve;
      });
      const recover = vi.spyOn(records.finalizer, "recover");
      const sweep = vi.spyOn(records.payouts!, "sweep").mockReturnValue(hanging);
      await vi.waitFor(() => expect(sweep).toHaveBeenCalledTimes(1), { timeout: 5_000 });
      await new Promise((resolve) => setTimeout(resolve, 200)); // some 20 ticks
      expect(recover).toHaveBeenCalledTimes(1);
      expect(sweep).toHaveBeenCalledTimes(1);
      // Once it is done, the next tick sweeps again.
      release(0);
      await vi.waitFor(() => expect(sweep.mock.calls.length).toBeGreaterThan(1), { timeout: 5_000 });
    } finally {
      await records.close();
    }
  });

  it("leaves sessions unended while the database was away lately: their ends sat in the writer's queue", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      sweepIntervalMs: 20,
      // The writer tries again only seconds after Postgres is back: sweeps run meanwhile.
      writer: { flushIntervalMs: 5, retry: { initialMs: 5_000, maxMs: 5_000 } },
    });
    const recover = vi.spyOn(records.finalizer, "recover");
    try {
      const { c } = await talking(records);
      expect(await records.writer.drain(10_000)).toBe(true);
      await pg.stop();
      try {
        records.write(c.ended(80));
        // Away so long that the session is past its live limit and the margin.
        now = Date.now() + 20 * MINUTE + UNENDED_MARGIN_MS + 5 * MINUTE;
        await new Promise((resolve) => setTimeout(resolve, 300)); // sweeps meet the outage
      } finally {
        await pg.start();
      }
      // Two whole sweeps against the database back (the writer still waiting), then the writer's turn.
      const back = recover.mock.calls.length;
      await vi.waitFor(
        () =>
          expect(recover.mock.settledResults.slice(back).filter((r) => r.type === "fulfilled").length).toBeGreaterThan(
            1,
          ),
        { timeout: 10_000 },
      );
      expect(await records.writer.drain(30_000)).toBe(true);
      await vi.waitFor(async () => expect(await decided(records, [c.sessionId])).toEqual([c.sessionId]), {
        timeout: 10_000,
      });
      const [session] = await records.sql<{ end_reason: string }[]>`
        select end_reason from sessions where id = ${c.sessionId}`;
      expect(session!.end_reason).toBe("CUSTOMER");
      const [reward] = await records.sql<{ reason: string }[]>`
        select reason from rewards where session_id = ${c.sessionId}`;
      expect(reward!.reason).not.toBe("no_score");
    } finally {
      await records.close();
    }
  });

  it("takes a real end that comes after the sweep called its session lost", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const { c } = await talking(records);
      records.write(c.score(50));
      expect(await records.writer.drain(10_000)).toBe(true);
      // As a sweep on a node that saw no outage, while this session's node was cut off from Postgres alone.
      expect(await endUnendedSessions(records.sql, Date.now() + 10 * 60 * MINUTE, 0)).toContain(c.sessionId);
      const scored = async () =>
        (
          await records.sql<{ score: number; summary: string }[]>`
          select score, summary from final_scores where session_id = ${c.sessionId}`
        )[0];
      expect(await scored()).toMatchObject({ score: 50, summary: "" });
      const end = c.ended(80);
      records.write(end);
      expect(await records.writer.drain(10_000)).toBe(true);
      const [session] = await records.sql<{ end_reason: string; ended_at: Date }[]>`
        select end_reason, ended_at from sessions where id = ${c.sessionId}`;
      expect(session!.end_reason).toBe("CUSTOMER");
      expect(session!.ended_at.getTime()).toBe(Number(end.publishedAtMs));
      expect((await scored())!.score).toBe(80);
      // A second end (a replay) changes nothing: only the guess is replaced.
      records.write(c.ended(20));
      expect(await records.writer.drain(10_000)).toBe(true);
      expect((await scored())!.score).toBe(80);
    } finally {
      await records.close();
    }
  });
});
