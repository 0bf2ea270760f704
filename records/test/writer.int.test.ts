// The write queue: the hot path only enqueues, records land once, and a real
// PostgreSQL restart in the middle of a conversation loses nothing.
import { randomUUID } from "node:crypto";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import postgres from "postgres";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Records } from "../src/index.ts";
import { RecordWriter } from "../src/RecordWriter.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { Conversation, capturingLogger, GOOD_FEEDBACK, openRecords, startCluster } from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

async function begin(records: Records, c: Conversation) {
  return records.beginSession({
    sessionId: c.sessionId,
    storeCode: c.storeCode,
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: "10.1.2.3",
  });
}

const counts = async (records: Records, sessionId: string) => {
  const [row] = await records.sql<{ segments: number; scores: number; questions: number; finals: number }[]>`
    select (select count(*)::int from transcript_segments where session_id = ${sessionId}) as segments,
           (select count(*)::int from score_updates where session_id = ${sessionId}) as scores,
           (select count(*)::int from ai_questions where session_id = ${sessionId}) as questions,
           (select count(*)::int from final_scores where session_id = ${sessionId}) as finals`;
  return row!;
};

type LogLine = { level: number; msg: string; err?: string };

/** Polls `check` until it holds; fails with `what` after `timeoutMs`. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// A rejection nobody handles ends a node process: the writer must never leave one.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeEach(() => {
  unhandled.length = 0;
  process.on("unhandledRejection", onUnhandled);
});
afterEach(() => {
  process.off("unhandledRejection", onUnhandled);
});

describe("RecordWriter", () => {
  it("keeps finals, scores, questions and the end; drops partials; writes each once despite redelivery", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const c = new Conversation();
      await begin(records, c);
      const envelopes = [
        c.started(),
        c.segment(1, "the cashier was", false),
        c.segment(1, GOOD_FEEDBACK[0]!),
        c.score(35),
        c.question(1, "What could be better?"),
        c.segment(2, GOOD_FEEDBACK[1]!),
        c.score(55),
        c.segment(3, GOOD_FEEDBACK[2]!),
        c.ended(72),
      ];
      for (const e of envelopes) records.write(e);
      for (const e of envelopes) records.write(e); // a cross-node duplicate of every envelope
      await records.flush();
      expect(await counts(records, c.sessionId)).toEqual({ segments: 3, scores: 2, questions: 1, finals: 1 });
      const [s] =
        await records.sql`select status, end_reason, consent_version, started_at, node_id from sessions where id = ${c.sessionId}`;
      expect(s).toMatchObject({ status: "ended", end_reason: "CUSTOMER", consent_version: "v1", node_id: "test-node" });
      expect(s!.started_at).toBeInstanceOf(Date);
      const [w] =
        await records.sql`select words from transcript_segments where session_id = ${c.sessionId} and segment_id = 1`;
      expect((w!.words as { text: string }[]).map((x) => x.text).join(" ")).toBe(GOOD_FEEDBACK[0]);
    } finally {
      await records.close();
    }
  });

  it("keeps the newest version of a replaced final segment, whatever order the copies arrive in", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const c = new Conversation();
      await begin(records, c);
      records.write(c.started());
      const first = c.segment(1, "first version of this segment");
      const second = c.segment(1, "corrected version of this segment");
      records.write(second);
      await records.flush();
      records.write(first); // an older copy delivered late
      await records.flush();
      const [row] = await records.sql`select text from transcript_segments where session_id = ${c.sessionId}`;
      expect(row!.text).toBe("corrected version of this segment");
    } finally {
      await records.close();
    }
  });

  it("keeps what Postgres refuses for good in dead_letters, and writes the rest", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const good = new Conversation();
      await begin(records, good);
      const orphan = new Conversation(); // never begun: its rows have no session to belong to
      const bad = new Conversation();
      (bad as { sessionId: string }).sessionId = "not-a-uuid";
      records.write(good.started());
      records.write(orphan.segment(1, "words of a session that was never created"));
      records.write(bad.segment(1, "words with a broken session id"));
      records.write(good.segment(1, GOOD_FEEDBACK[0]!));
      await records.flush();
      expect((await counts(records, good.sessionId)).segments).toBe(1);
      const letters = await records.sql`select session_id, kind, error from dead_letters order by id`;
      expect(letters.map((l) => l.session_id)).toEqual([orphan.sessionId, "not-a-uuid"]);
      expect(letters[0]!.error).toMatch(/foreign key/);
      expect(records.writer.depth).toBe(0);
    } finally {
      await records.close();
    }
  });

  it("keeps records while Postgres is read-only (a failover) and writes them once it accepts writes", async () => {
    const url = await pg.createDatabase();
    const records = await openRecords(url);
    // One connection, so the session setting below is the writer's: a real 25006 from the server.
    const standby = postgres(url, { max: 1, onnotice: () => {} });
    const { logger, lines } = capturingLogger<LogLine>();
    const writer = new RecordWriter({ sql: standby, logger, flushIntervalMs: 5, retry: { initialMs: 20, maxMs: 100 } });
    try {
      const c = new Conversation();
      await begin(records, c);
      records.write(c.started());
      await records.flush();
      await standby`set default_transaction_read_only = on`;
      for (let i = 1; i <= 5; i++) writer.write(c.segment(i, `segment number ${i} about the visit`));
      const refusals = () => lines.filter((l) => l.err?.startsWith("25006")).length;
      await until("the writer was refused twice by the read-only server", () => refusals() >= 2);
      expect(writer.depth).toBe(5);
      await standby`set default_transaction_read_only = off`; // promoted
      expect(await writer.drain(30_000)).toBe(true);
      expect((await counts(records, c.sessionId)).segments).toBe(5);
      expect(await records.sql`select session_id from dead_letters`).toHaveLength(0);
      expect(unhandled).toEqual([]);
    } finally {
      await writer.close();
      await standby.end();
      await records.close();
    }
  });

  it("keeps a refused record at the head of the queue while dead_letters cannot be written either", async () => {
    const url = await pg.createDatabase();
    const { logger, lines } = capturingLogger<LogLine>();
    const records = await openRecords(url, { logger });
    try {
      const good = new Conversation();
      await begin(records, good);
      records.write(good.started());
      await records.flush();
      // dead_letters refuses every insert (a real server error), counting the attempts outside
      // the rolled-back transactions.
      await records.sql.unsafe(`
        create sequence dead_letter_attempts;
        create function refuse_dead_letter() returns trigger language plpgsql as $$
          begin perform nextval('dead_letter_attempts'); raise exception 'dead_letters is full'; end $$;
        create trigger refuse before insert on dead_letters for each row execute function refuse_dead_letter();`);
      const orphan = new Conversation(); // never begun: refused for good (foreign key)
      records.write(orphan.segment(1, "words of a session that was never created"));
      records.write(good.segment(1, GOOD_FEEDBACK[0]!));
      records.write(good.segment(2, GOOD_FEEDBACK[1]!));
      const attempts = async () =>
        Number((await records.sql`select last_value from dead_letter_attempts`)[0]!.last_value);
      await until("dead-lettering was tried three times", async () => (await attempts()) >= 3);
      expect(records.writer.depth).toBe(3); // nothing lost, nothing overtook the refused record
      await records.sql`drop trigger refuse on dead_letters`;
      expect(await records.flush()).toBe(true);
      const letters = await records.sql`select session_id, error from dead_letters`;
      expect(letters.map((l) => l.session_id)).toEqual([orphan.sessionId]);
      expect(letters[0]!.error).toMatch(/foreign key/);
      expect((await counts(records, good.sessionId)).segments).toBe(2);
      const failures = lines.filter((l) => l.msg.includes("dead_letters cannot be written"));
      expect(failures).toHaveLength(1); // once per outage, not per retry
      expect(unhandled).toEqual([]);
    } finally {
      await records.close();
    }
  });

  it("loses no segment when PostgreSQL restarts in the middle of a conversation", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const c = new Conversation();
      await begin(records, c);
      records.write(c.started());
      for (let i = 1; i <= 20; i++) records.write(c.segment(i, `segment number ${i} about the visit`));
      await records.flush();
      await pg.stop(); // the server goes away mid-conversation
      const enqueueCosts: number[] = [];
      for (let i = 21; i <= 60; i++) {
        const e = c.segment(i, `segment number ${i} about the visit`);
        const t0 = performance.now();
        records.write(e); // still never waits
        enqueueCosts.push(performance.now() - t0);
        records.write(c.score(i));
        if (i === 40) await new Promise((r) => setTimeout(r, 300)); // let the writer fail and retry a while
      }
      expect(records.writer.depth).toBeGreaterThan(0);
      await pg.start();
      records.write(c.ended(80));
      expect(await records.flush(60_000)).toBe(true);
      const n = await counts(records, c.sessionId);
      expect(n.segments).toBe(60);
      expect(n.scores).toBe(40);
      expect(n.finals).toBe(1);
      const ids = await records.sql<{ segment_id: number }[]>`
        select segment_id from transcript_segments where session_id = ${c.sessionId} order by segment_id`;
      expect(ids.map((r) => r.segment_id)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      expect(enqueueCosts).toHaveLength(40);
    } finally {
      if (!pg.running) await pg.start();
      await records.close();
    }
  }, 120_000);
});

describe("resuming a session", () => {
  it("keeps its first start when another node resumes it, so its maximum age counts from there", async () => {
    const startedAt = Date.now();
    let now = startedAt;
    const records = await openRecords(await pg.createDatabase(), { now: () => now });
    try {
      const c = new Conversation();
      await begin(records, c);
      records.write(c.started(startedAt, "node-a"));
      await records.flush();
      // Node a went away; node b resumes the conversation a minute later and starts it again there.
      records.write(c.started(startedAt + 60_000, "node-b"));
      await records.flush();
      const [s] = await records.sql`select started_at, node_id from sessions where id = ${c.sessionId}`;
      expect(s).toEqual({ started_at: new Date(startedAt), node_id: "node-b" });
      const maxAgeMs = 5 * 60_000;
      now = startedAt + maxAgeMs - 30_000;
      expect(await records.resumable(c.sessionId, maxAgeMs)).toMatchObject({ nodeId: "node-b" });
      now = startedAt + maxAgeMs + 30_000; // 4.5 min after the resume, 5.5 after the start
      expect(await records.resumable(c.sessionId, maxAgeMs)).toBeUndefined();
    } finally {
      await records.close();
    }
  });

  it("answers a resume while PostgreSQL is down with a retryable UNAVAILABLE, not a raw driver error", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const c = new Conversation();
      await begin(records, c);
      records.write(c.started());
      await records.flush();
      await pg.stop();
      const error = await records.resumable(c.sessionId, 60_000).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ParleyError);
      expect(error).toMatchObject({ code: ErrorCode.UNAVAILABLE, retryable: true });
      expect((error as ParleyError).retryAfterMs).toBeGreaterThan(0);
      await pg.start();
      expect(await records.resumable(c.sessionId, 60_000)).toMatchObject({ sessionId: c.sessionId });
    } finally {
      if (!pg.running) await pg.start();
      await records.close();
    }
  }, 60_000);
});
