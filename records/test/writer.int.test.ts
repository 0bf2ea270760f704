// The write queue: the hot path only enqueues, records land once, and a real
// PostgreSQL restart in the middle of a conversation loses nothing.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Records } from "../src/index.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { Conversation, GOOD_FEEDBACK, openRecords, startCluster } from "./helpers.ts";

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
