// Privacy: the retention job deletes exactly what is due (voice data after
// VOICE_DATA_RETENTION_HOURS, transcripts and scores after DATA_RETENTION_DAYS)
// by an injected clock, and logs counts; a customer reads and deletes their
// own session with its data code; transcripts never reach the logs.
import { randomUUID } from "node:crypto";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Records } from "../src/index.ts";
import { type PostgresCluster, serveRoutes } from "../src/testing/index.ts";
import { Conversation, openRecords, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

const HOUR = 3_600_000;
let seed = 9000;

async function visit(records: Records) {
  const c = new Conversation();
  const begun = await records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: "203.0.113.9",
  });
  records.write(c.started());
  const tap = records.audioTap(c.sessionId);
  const pcm = new Int16Array(16000 * 3);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(3000 * Math.sin(i / (3 + (i % 7000) / 2000)));
  for (let i = 0; i < pcm.length; i += 320) tap.push(pcm.subarray(i, i + 320));
  const lines = uniqueFeedback(++seed);
  for (const [i, line] of lines.entries()) records.write(c.segment(i + 1, line));
  records.write(c.score(50));
  records.write(c.question(1, "What would you change?"));
  records.write(c.ended(70));
  await records.flush();
  return { sessionId: c.sessionId, dataCode: begun.dataCode, lines };
}

function capturingLogger() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: "trace" }, stream), lines };
}

const count = async (records: Records, table: string, sessionId: string) =>
  (await records.sql`select count(*)::int as n from ${records.sql(table)} where session_id = ${sessionId}`)[0]!
    .n as number;

describe("retention job", () => {
  it("makes its first pass when it starts, so a node restarted more often than hourly still deletes", async () => {
    const url = await pg.createDatabase();
    const before = await openRecords(url);
    const old = await visit(before);
    await before.sql`update sessions set created_at = created_at - interval '800 days' where id = ${old.sessionId}`;
    await before.close();

    const restarted = await openRecords(url, { retention: { intervalMs: HOUR } });
    try {
      const redacted = async () =>
        (await restarted.sql`select redacted_at from sessions where id = ${old.sessionId}`)[0]!.redacted_at;
      for (let i = 0; i < 100 && (await redacted()) === null; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await redacted()).not.toBeNull();
      expect(await count(restarted, "transcript_segments", old.sessionId)).toBe(0);
    } finally {
      await restarted.close();
    }
  });

  it("deletes voice data after 24 h and transcripts after 730 days, nothing earlier, and logs what it deleted", async () => {
    let now = Date.now();
    const { logger, lines } = capturingLogger();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      logger,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24 },
    });
    try {
      const old = await visit(records);
      // The database's created_at is the real time of the insert: place this session 800 days back.
      await records.sql`update sessions set created_at = created_at - interval '800 days' where id = ${old.sessionId}`;
      now += 2 * HOUR;
      const recent = await visit(records);
      expect(await count(records, "audio_fingerprints", recent.sessionId)).toBe(1);

      now += 23 * HOUR; // old's fingerprint is 25 h old, recent's 23 h
      let counts = await records.retention.runOnce();
      expect(counts.audio_fingerprints).toBe(1);
      expect(await count(records, "audio_fingerprints", old.sessionId)).toBe(0);
      expect(await count(records, "audio_fingerprints", recent.sessionId)).toBe(1);
      expect(counts.transcript_segments).toBe(3); // old's transcript: 800 days
      expect(counts.sessions_redacted).toBe(1);
      for (const table of [
        "transcript_segments",
        "score_updates",
        "final_scores",
        "ai_questions",
        "transcript_signatures",
      ]) {
        expect(await count(records, table, old.sessionId)).toBe(0);
        expect(await count(records, table, recent.sessionId)).toBeGreaterThan(0);
      }
      const [redacted] =
        await records.sql`select device_hash, ip_hash, data_code_hash, redacted_at, status from sessions where id = ${old.sessionId}`;
      expect(redacted).toMatchObject({ device_hash: null, ip_hash: null, data_code_hash: null, status: "ended" });
      expect(await count(records, "rewards", old.sessionId)).toBe(1); // bookkeeping stays

      now += 2 * HOUR;
      counts = await records.retention.runOnce();
      expect(counts).toMatchObject({ audio_fingerprints: 1, transcript_segments: 0, sessions_redacted: 0 });

      const runs = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "retention run");
      expect(runs[0].deleted).toMatchObject({ audio_fingerprints: 1, transcript_segments: 3, sessions_redacted: 1 });
      const [audit] = await records.sql`select actor, action from audit_log where action = 'retention.deleted' limit 1`;
      expect(audit).toEqual({ actor: "system", action: "retention.deleted" });
      // Transcripts never appear in the logs.
      const all = lines.join("\n");
      for (const line of [...old.lines, ...recent.lines]) expect(all).not.toContain(line);
    } finally {
      await records.close();
    }
  });

  it("works through what is due in batches of batchSize rows, with the same totals, one audit row and one log line", async () => {
    let now = Date.now();
    const { logger, lines } = capturingLogger();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      logger,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24, batchSize: 2 },
    });
    try {
      const expired = await visits(records, 5);
      const recent = await visits(records, 2);
      await backdate(records, expired);
      now += 25 * HOUR; // every fingerprint is past the voice retention
      for (let i = 0; i < 3; i++) await deadLetter(records, randomUUID(), new Date(now - 800 * 24 * HOUR));
      await deadLetter(records, expired[0]!, new Date(now - HOUR));
      const expected = { audio_fingerprints: 7, dead_letters: 4, sessions_redacted: 5, wall_alerts: 0 } as Record<
        string,
        number
      >;
      for (const table of CONTENT_TABLES.slice(1)) expected[table] = await countOf(records, table, expired);

      const counts = await records.retention.runOnce();
      expect(counts).toEqual(expected);
      expect(await redacted(records, [...expired, ...recent])).toEqual([true, true, true, true, true, false, false]);
      for (const table of CONTENT_TABLES.slice(1)) {
        expect(await countOf(records, table, expired)).toBe(0);
        expect(await countOf(records, table, recent)).toBeGreaterThan(0);
      }
      expect(await letters(records)).toEqual([]);
      const audits = await records.sql`select detail from audit_log where action = 'retention.deleted'`;
      expect(audits.map((a) => a.detail)).toEqual([expected]);
      const runs = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "retention run");
      expect(runs.map((r) => r.deleted)).toEqual([expected]);
    } finally {
      await records.close();
    }
  });

  it("keeps what the batches before a failure did, and the next run does the rest", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24, batchSize: 2 },
    });
    try {
      const expired = await visits(records, 5);
      await backdate(records, expired); // redacted oldest first: [0, 1], [2, 3], [4]
      now += HOUR;
      // The second batch fails (a statement timeout, a restart) at its second session.
      await records.sql.unsafe(`
        create function refuse() returns trigger language plpgsql as $$ begin raise exception 'refused'; end $$;
        create trigger refuse before update on sessions for each row
          when (old.id = '${expired[3]}') execute function refuse()`);
      await expect(records.retention.runOnce()).rejects.toThrow("refused");
      expect(await redacted(records, expired)).toEqual([true, true, false, false, false]);
      expect(await countOf(records, "transcript_segments", expired.slice(0, 2))).toBe(0);
      expect(await countOf(records, "transcript_segments", expired.slice(2))).toBe(9);
      // What was deleted is audited although the run did not get to the end.
      const [audit] = await records.sql`select detail from audit_log where action = 'retention.deleted'`;
      expect(audit!.detail).toMatchObject({ sessions_redacted: 2, transcript_segments: 6 });

      await records.sql`drop trigger refuse on sessions`;
      expect(await records.retention.runOnce()).toMatchObject({ sessions_redacted: 3, transcript_segments: 9 });
      expect(await redacted(records, expired)).toEqual([true, true, true, true, true]);
      expect(await countOf(records, "transcript_segments", expired)).toBe(0);
    } finally {
      await records.close();
    }
  });

  it("ends a run between batches when stopped, and the next run does the rest", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24, batchSize: 1 },
    });
    const held = await records.sql.reserve();
    try {
      const expired = await visits(records, 5);
      await backdate(records, expired);
      now += HOUR;
      // The first redaction waits, in its transaction, for a lock this test holds: stop() is called
      // while that batch is under way, deterministically.
      await records.sql.unsafe(`
        create function wait_for_test() returns trigger language plpgsql as $$
          begin perform pg_advisory_xact_lock(4242); return new; end $$;
        create trigger wait_for_test before update on sessions for each row execute function wait_for_test()`);
      await held`select pg_advisory_lock(4242)`;
      const run = records.retention.runOnce();
      const waiting = async () =>
        (
          await held`select count(*)::int as n from pg_locks where locktype = 'advisory' and objid = 4242 and not granted`
        )[0]!.n as number;
      for (let i = 0; i < 500 && (await waiting()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await waiting()).toBe(1);
      const stopped = records.retention.stop();
      await held`select pg_advisory_unlock(4242)`;
      await stopped;
      // The batch under way was committed; none after it began.
      expect((await run).sessions_redacted).toBe(1);
      expect(await redacted(records, expired)).toEqual([true, false, false, false, false]);

      await records.sql`drop trigger wait_for_test on sessions`;
      expect((await records.retention.runOnce()).sessions_redacted).toBe(4);
      expect(await redacted(records, expired)).toEqual([true, true, true, true, true]);
    } finally {
      held.release();
      await records.close();
    }
  });
});

/** `n` sessions, each with its whole content (see visit), in the order they were made. */
async function visits(records: Records, n: number): Promise<string[]> {
  const ids = [];
  for (let i = 0; i < n; i++) ids.push((await visit(records)).sessionId);
  return ids;
}

/** Places the sessions beyond a 730 days' retention, the first the oldest (the order the job redacts them in). */
async function backdate(records: Records, ids: string[]) {
  for (const [i, id] of ids.entries())
    await records.sql`
      update sessions set created_at = created_at - make_interval(days => ${800 + ids.length - i}::int) where id = ${id}`;
}

/** Whether each session has been redacted. */
async function redacted(records: Records, ids: string[]): Promise<boolean[]> {
  const rows = await records.sql`select id from sessions where id = any(${ids}::uuid[]) and redacted_at is not null`;
  const done = new Set(rows.map((r) => r.id as string));
  return ids.map((id) => done.has(id));
}

const CONTENT_TABLES = [
  "audio_fingerprints",
  "transcript_segments",
  "score_updates",
  "final_scores",
  "ai_questions",
  "transcript_signatures",
];

const countOf = async (records: Records, table: string, ids: string[]) =>
  (await records.sql`select count(*)::int as n from ${records.sql(table)} where session_id = any(${ids}::uuid[])`)[0]!
    .n as number;

/** A record the writer could not store, as it keeps it: the whole envelope, text included. */
const deadLetter = (records: Records, sessionId: string, at: Date) =>
  records.sql`insert into dead_letters (at, session_id, kind, error, payload)
              values (${at}, ${sessionId}, 'transcript', '23503: refused', ${Buffer.from("what the customer said")})`;

const letters = async (records: Records) =>
  (await records.sql`select session_id from dead_letters order by id`).map((r) => r.session_id as string);

describe("retention of dead letters", () => {
  it("deletes dead letters older than the data retention, and those of sessions it redacts", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24 },
    });
    try {
      const old = await visit(records);
      await records.sql`update sessions set created_at = created_at - interval '800 days' where id = ${old.sessionId}`;
      const recent = await visit(records);
      const orphan = randomUUID(); // a session that was never created
      now += HOUR;
      await deadLetter(records, old.sessionId, new Date(now - HOUR)); // recent, but of a redacted session
      await deadLetter(records, "not-a-uuid", new Date(now - 800 * 24 * HOUR)); // past the retention
      await deadLetter(records, recent.sessionId, new Date(now - HOUR));
      await deadLetter(records, orphan, new Date(now - 700 * 24 * HOUR)); // not yet due
      const counts = await records.retention.runOnce();
      expect(await letters(records)).toEqual([recent.sessionId, orphan]);
      expect(counts.dead_letters).toBe(2);
    } finally {
      await records.close();
    }
  });
});

/** Content of each kind the writer may store for a session after it was redacted. */
const lateContent: Record<string, (records: Records, sessionId: string) => Promise<unknown>> = {
  score_updates: (records, id) => records.sql`
    insert into score_updates (session_id, seq, score, specificity, actionability, sentiment, relevance, topics,
                               hint, engine, through_segment_id, scored_at)
    values (${id}, 99, 60, 0.5, 0.5, 0.2, 0.9, ${["service"]}, 'say more', 'builtin', 3, now())`,
  final_scores: (records, id) => records.sql`
    insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
    values (${id}, 60, 0.5, 0.5, 0.2, 0.9, ${["service"]}, 'what the customer said, summarised', 'builtin')`,
  ai_questions: (records, id) => records.sql`
    insert into ai_questions (session_id, turn, text, aimed_at, asked_at)
    values (${id}, 7, 'You said the queue was slow: when?', 'specificity', now())`,
  dead_letters: (records, id) => deadLetter(records, id, new Date()),
  // An alert a node was saving when the customer deleted the conversation.
  wall_alerts: (records, id) => records.sql`
    insert into wall_alerts (alert_key, id, kind, business_id, store_code, session_id, score, raised_at)
    select ${`LOW_SCORE:${id}`}, ${`a-${id}`}, 'LOW_SCORE', business_id, 'demo', id, 12, now() from sessions where id = ${id}`,
};

describe("content stored after a session was redacted", () => {
  /** Runs `check` on a session the retention job has just redacted (it began 800 days ago). */
  async function afterRedaction(check: (records: Records, sessionId: string) => Promise<void>) {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24 },
    });
    try {
      const gone = await visit(records);
      await records.sql`update sessions set created_at = created_at - interval '800 days' where id = ${gone.sessionId}`;
      now += HOUR;
      expect((await records.retention.runOnce()).sessions_redacted).toBe(1);
      await check(records, gone.sessionId);
    } finally {
      await records.close();
    }
  }

  it("is deleted by the next run (a fraud check that finished after the customer's deletion)", async () => {
    await afterRedaction(async (records, sessionId) => {
      expect(await count(records, "transcript_signatures", sessionId)).toBe(0);
      // The late write: a signature for the redacted session.
      await records.sql`
        insert into transcript_signatures (session_id, business_id, minhash, created_at)
        select id, business_id, ${Buffer.alloc(16)}, now() from sessions where id = ${sessionId}`;
      const counts = await records.retention.runOnce();
      expect(counts.transcript_signatures).toBe(1);
      expect(await count(records, "transcript_signatures", sessionId)).toBe(0);
    });
  });

  it("of every kind is deleted by the next run (the writer's last records of a conversation the customer deleted)", async () => {
    await afterRedaction(async (records, sessionId) => {
      for (const [table, write] of Object.entries(lateContent)) {
        await write(records, sessionId);
        const counts = await records.retention.runOnce();
        expect({ table, deleted: counts[table as keyof typeof counts] }).toEqual({ table, deleted: 1 });
        expect(await count(records, table, sessionId)).toBe(0);
      }
    });
  });
});

describe("customer data access and deletion", () => {
  it("deletes the session's dead letters with the rest of its data", async () => {
    const records = await openRecords(await pg.createDatabase());
    const http = await serveRoutes(records.routes);
    try {
      const mine = await visit(records);
      const other = await visit(records);
      await deadLetter(records, mine.sessionId, new Date());
      // The writer keeps the id as the envelope spelled it; a UUID may come in upper case.
      await deadLetter(records, mine.sessionId.toUpperCase(), new Date());
      await deadLetter(records, other.sessionId, new Date());
      const del = await fetch(`${http.url}/api/customer/sessions/${mine.sessionId}?forfeitReward=true`, {
        method: "DELETE",
        headers: { "x-parley-data-code": mine.dataCode },
      });
      expect(del.status).toBe(200);
      expect(await letters(records)).toEqual([other.sessionId]);
      expect(((await del.json()) as { deleted: { dead_letters: number } }).deleted.dead_letters).toBe(2);
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("opens and deletes one session with its data code, and nothing with a wrong one", async () => {
    const told: unknown[] = [];
    const records = await openRecords(await pg.createDatabase(), { onCustomerDeleted: (d) => told.push(d) });
    const http = await serveRoutes(records.routes);
    try {
      const mine = await visit(records);
      const other = await visit(records);
      const get = (sessionId: string, code?: string) =>
        fetch(`${http.url}/api/customer/sessions/${sessionId}`, {
          headers: code ? { "x-parley-data-code": code } : {},
        });
      expect((await get(mine.sessionId)).status).toBe(401);
      expect((await get(mine.sessionId, other.dataCode)).status).toBe(401);
      const res = await get(mine.sessionId, mine.dataCode.toLowerCase().replace(/-/g, " "));
      expect(res.status).toBe(200);
      const data = (await res.json()) as {
        transcript: { text: string }[];
        reward: { amountMinor: number };
        consentVersion: string;
        retention: unknown;
      };
      expect(data.transcript.map((t) => t.text)).toEqual(mine.lines);
      expect(data.consentVersion).toBe("v1");
      expect(data.reward.amountMinor).toBe(1000);
      expect(data.retention).toEqual({ transcriptAndScoresDays: 730, voiceDataHours: 24, rawAudioKept: false });

      // Its reward is not claimed yet, and the data code is the only key to a claim: the customer
      // is told what a deletion would cost, and nothing is deleted until they say so.
      const del = (query = "") =>
        fetch(`${http.url}/api/customer/sessions/${mine.sessionId}${query}`, {
          method: "DELETE",
          headers: { "x-parley-data-code": mine.dataCode },
        });
      const refused = await del();
      expect(refused.status).toBe(409);
      expect(await refused.json()).toMatchObject({
        reason: "reward_unclaimed",
        reward: { amountMinor: 1000, status: "claimable" },
      });
      expect(await count(records, "transcript_segments", mine.sessionId)).toBe(3);
      expect(told).toEqual([]);
      const deleted = await del("?forfeitReward=true");
      expect(deleted.status).toBe(200);
      expect(((await deleted.json()) as { rewardForfeited: boolean }).rewardForfeited).toBe(true);
      const [reward] = await records.sql`select status from rewards where session_id = ${mine.sessionId}`;
      expect(reward!.status).toBe("forfeited");
      // The node is told, to take it off public screens.
      const [business] = await records.sql`select business_id from sessions where id = ${mine.sessionId}`;
      expect(told).toEqual([{ sessionId: mine.sessionId, businessId: business!.business_id, storeCode: "demo" }]);
      expect(await count(records, "transcript_segments", mine.sessionId)).toBe(0);
      expect(await count(records, "audio_fingerprints", mine.sessionId)).toBe(0);
      expect(await count(records, "transcript_segments", other.sessionId)).toBe(3);
      expect((await get(mine.sessionId, mine.dataCode)).status).toBe(401); // the code went with the data
      const [s] = await records.sql`select deleted_by_customer_at from sessions where id = ${mine.sessionId}`;
      expect(s!.deleted_by_customer_at).toBeInstanceOf(Date);
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("gives a forfeited reward back to the business's daily budget", async () => {
    const records = await openRecords(await pg.createDatabase());
    const http = await serveRoutes(records.routes);
    try {
      await records.sql`update businesses set daily_budget_minor = 1000`; // one reward a day
      // Conversations with nothing in common (the same audio, as visit() plays, is flagged as a replay).
      const talk = async () => {
        const c = new Conversation();
        const { dataCode } = await records.beginSession({
          sessionId: c.sessionId,
          storeCode: "demo",
          consent: { given: true, version: "v1" },
          deviceId: randomUUID(),
        });
        records.write(c.started());
        for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
        records.write(c.ended(70));
        await records.flush();
        return { sessionId: c.sessionId, dataCode };
      };
      const first = await talk();
      const status = async (sessionId: string) =>
        (await records.sql`select status, reason from rewards where session_id = ${sessionId}`)[0];
      expect(await status(first.sessionId)).toMatchObject({ status: "claimable" });
      expect(await status((await talk()).sessionId)).toMatchObject({ reason: "budget_exhausted" });
      const del = await fetch(`${http.url}/api/customer/sessions/${first.sessionId}?forfeitReward=true`, {
        method: "DELETE",
        headers: { "x-parley-data-code": first.dataCode },
      });
      expect(del.status).toBe(200);
      expect(await status(first.sessionId)).toMatchObject({ status: "forfeited" });
      expect(await status((await talk()).sessionId)).toMatchObject({ status: "claimable" });
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("keeps only keyed hashes after a deletion: the same receipt cannot earn again; device and address hashes go after the velocity window", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      retention: { intervalMs: 0, dataRetentionDays: 730, voiceRetentionHours: 24 },
    });
    const http = await serveRoutes(records.routes);
    const purchase = async () => {
      const c = new Conversation();
      const begun = await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
        deviceId: randomUUID(),
        ip: `198.51.100.${++seed % 250}`,
        receipt: "R-7001",
      });
      records.write(c.started());
      for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
      records.write(c.ended(80));
      await records.flush();
      const [reward] = await records.sql`select status from rewards where session_id = ${c.sessionId}`;
      return { sessionId: c.sessionId, dataCode: begun.dataCode, status: reward?.status as string };
    };
    try {
      const first = await purchase();
      expect(first.status).toBe("claimable");
      const del = await fetch(`${http.url}/api/customer/sessions/${first.sessionId}?forfeitReward=true`, {
        method: "DELETE",
        headers: { "x-parley-data-code": first.dataCode },
      });
      expect(del.status).toBe(200);
      const [kept] = await records.sql`
        select receipt_ref, receipt_hash, device_hash, ip_hash from sessions where id = ${first.sessionId}`;
      expect(kept!.receipt_ref).toBeNull(); // the receipt's text is gone…
      expect(kept!.receipt_hash).not.toBeNull(); // …its keyed hash stays for the rule
      expect(kept!.receipt_hash).not.toContain("R-7001");
      // The same purchase again, after deleting the first conversation: withheld.
      expect((await purchase()).status).toBe("withheld");
      // Past the velocity window the device and address hashes go; the receipt's stays.
      now += 25 * HOUR;
      await records.retention.runOnce();
      const [later] = await records.sql`
        select receipt_hash, device_hash, ip_hash from sessions where id = ${first.sessionId}`;
      expect(later).toMatchObject({ device_hash: null, ip_hash: null });
      expect(later!.receipt_hash).not.toBeNull();
      // The receipt's hash goes with the data retention.
      now += 731 * 24 * HOUR;
      await records.retention.runOnce();
      const [gone] = await records.sql`select receipt_hash from sessions where id = ${first.sessionId}`;
      expect(gone!.receipt_hash).toBeNull();
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("deletes nothing while the conversation may still be going; a session cut off by a crash, once it cannot be", async () => {
    let now = Date.now();
    const records = await openRecords(await pg.createDatabase(), { now: () => now, sessionLiveLimitMs: HOUR });
    const http = await serveRoutes(records.routes);
    try {
      // A conversation under way: started, one sentence so far, not ended.
      const c = new Conversation();
      const { dataCode } = await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
      });
      records.write(c.started());
      records.write(c.segment(1, uniqueFeedback(++seed)[0]!));
      await records.flush();
      const del = () =>
        fetch(`${http.url}/api/customer/sessions/${c.sessionId}`, {
          method: "DELETE",
          headers: { "x-parley-data-code": dataCode },
        });
      const refused = await del();
      expect(refused.status).toBe(409);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(await count(records, "transcript_segments", c.sessionId)).toBe(1); // nothing deleted, the code still works

      // It never ended (its node died) and can no longer be going: deletable.
      now += HOUR + 60_000;
      expect((await del()).status).toBe(200);
      expect(await count(records, "transcript_segments", c.sessionId)).toBe(0);
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("decides no reward for a conversation its customer deleted before its end was recorded", async () => {
    let now = Date.now();
    const rewards: unknown[] = [];
    const records = await openRecords(await pg.createDatabase(), {
      now: () => now,
      sessionLiveLimitMs: HOUR,
      publish: (_t, e) => {
        if (e.kind.case === "reward") rewards.push(e.kind.value);
      },
    });
    const http = await serveRoutes(records.routes);
    try {
      const c = new Conversation();
      const { dataCode } = await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
      });
      records.write(c.started());
      for (const [i, line] of uniqueFeedback(++seed).entries()) records.write(c.segment(i + 1, line));
      await records.flush();
      // Its node went quiet; once it can no longer be going the customer deletes it…
      now += HOUR + 60_000;
      const del = await fetch(`${http.url}/api/customer/sessions/${c.sessionId}`, {
        method: "DELETE",
        headers: { "x-parley-data-code": dataCode },
      });
      expect(del.status).toBe(200);
      // …and then its end arrives (the node published it late).
      records.write(c.ended(80));
      await records.flush();
      expect(await count(records, "rewards", c.sessionId)).toBe(0);
      expect(rewards).toEqual([]);
      const [spent] = await records.sql`select coalesce(sum(amount_minor), 0)::int as n from rewards`;
      expect(spent!.n).toBe(0);
      for (const table of ["transcript_signatures", "audio_fingerprints", "fraud_flags"])
        expect(await count(records, table, c.sessionId)).toBe(0);
      // The recovery sweep does not decide it either.
      expect(await records.finalizer.recover()).toBe(0);
    } finally {
      await http.close();
      await records.close();
    }
  });

  it("limits guessing of data codes", async () => {
    const records = await openRecords(await pg.createDatabase(), { loginRateLimit: { max: 5, windowMs: 60_000 } });
    const http = await serveRoutes(records.routes);
    try {
      const mine = await visit(records);
      const statuses = [];
      for (let i = 0; i < 7; i++)
        statuses.push(
          (
            await fetch(`${http.url}/api/customer/sessions/${mine.sessionId}`, {
              headers: { "x-parley-data-code": `WRONG-CODE-${i}` },
            })
          ).status,
        );
      expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429]);
      // Another customer behind the same address is not locked out by those guesses.
      const theirs = await visit(records);
      const read = await fetch(`${http.url}/api/customer/sessions/${theirs.sessionId}`, {
        headers: { "x-parley-data-code": theirs.dataCode },
      });
      expect(read.status).toBe(200);
      // One address cannot guess without end across sessions: ten times a session's allowance.
      const spread = [];
      for (let i = 0; i < 50; i++)
        spread.push(
          (
            await fetch(`${http.url}/api/customer/sessions/${randomUUID()}`, {
              headers: { "x-parley-data-code": "WRONG-CODE-0" },
            })
          ).status,
        );
      expect(spread.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(spread.slice(0, 40).every((s) => s === 401)).toBe(true);
    } finally {
      await http.close();
      await records.close();
    }
  });
});
