// The embedded default: no DATABASE_URL → PGlite behind its socket server, in
// a data folder that survives restarts; the demo business, store and logins
// are created on the first start only and printed once; a session its node
// lost is ended and rewarded by the sweep as on PostgreSQL 15.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, describe, expect, it, vi } from "vitest";
import { Records } from "../src/index.ts";
import { serveRoutes } from "../src/testing/index.ts";
import { Conversation, SECRET, uniqueFeedback } from "./helpers.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-embedded-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function start(lines: string[]) {
  const stream = new Writable({
    write(chunk, _e, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return Records.create({
    dataDir: path.join(dir, "pglite"),
    nodeId: "embedded-node",
    logger: pino({ level: "info" }, stream),
    authSecret: SECRET,
    sweepIntervalMs: 0,
    retention: { intervalMs: 0 },
  });
}

describe("embedded PGlite", () => {
  it("keeps its data across restarts and prints the demo logins only on the first start", async () => {
    const first: string[] = [];
    const records = await start(first);
    let sessionId: string;
    try {
      expect(records.database.embedded).toBeDefined();
      expect(records.demo?.owner.email).toBe("demo@parley.local");
      const c = new Conversation();
      sessionId = c.sessionId;
      await records.beginSession({ sessionId, storeCode: "demo", consent: { given: true, version: "v1" } });
      records.write(c.started());
      for (const [i, line] of uniqueFeedback(31337).entries()) records.write(c.segment(i + 1, line));
      records.write(c.ended(82));
      await records.flush();
    } finally {
      await records.close();
    }
    const printed = first.filter((l) => l.includes(records.demo!.owner.password));
    expect(printed).toHaveLength(1);

    const second: string[] = [];
    const again = await start(second);
    const http = await serveRoutes(again.routes);
    try {
      expect(again.demo).toBeUndefined();
      expect(second.join("")).not.toContain("demo business created");
      const [row] = await again.sql`select count(*)::int as n from transcript_segments where session_id = ${sessionId}`;
      expect(row!.n).toBe(3);
      const [reward] = await again.sql`select amount_minor from rewards where session_id = ${sessionId}`;
      expect(reward!.amount_minor).toBe(2000);
      // The demo login printed on the first start still works.
      const res = await fetch(`${http.url}/api/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email: "demo@parley.local", password: records.demo!.owner.password }),
      });
      expect(res.status).toBe(200);
      // The wall's history and moderation read the same on PGlite.
      const businessId = records.demo!.businessId;
      const scope = { businessId, storeCodes: ["demo"] };
      const day = { nowMs: Date.now(), utcOffsetMinutes: 60 };
      expect((await again.wall.page(scope, 10)).feedback.map((f) => f.sessionId)).toEqual([sessionId]);
      expect((await again.wall.conversation(sessionId))?.segments).toHaveLength(3);
      expect(await again.wall.tiles(scope, day)).toMatchObject({ todayCount: 1, grantedTodayMinor: 2000 });
      const trends = await again.wall.trends(scope, "days7", day);
      expect(trends.buckets.at(-1)?.count).toBe(1);
      expect(trends.topics.map((t) => t.topic)).toEqual(["service", "waiting_time"]);
      const decided = await again.moderation.decide({ sessionId, businessId, status: "approved" }, "system");
      expect(decided.current).toMatchObject({ status: "approved", automatic: true, storeCode: "demo" });
      await again.moderation.setSettings(businessId, { autoApproveAbove: 80, redactedPhrases: ["x"] }, "system");
      expect(await again.moderation.settings(businessId)).toEqual({ autoApproveAbove: 80, redactedPhrases: ["x"] });
    } finally {
      await http.close();
      await again.close();
    }
  }, 120_000);

  it("ends a session its node lost and rewards it on the last score it reached", async () => {
    // The sweep's one statement (an update and an insert in CTEs) as PGlite runs it.
    let now = Date.now();
    const records = await Records.create({
      dataDir: path.join(dir, "pglite-lost"),
      nodeId: "embedded-node",
      logger: pino({ level: "silent" }),
      authSecret: SECRET,
      now: () => now,
      sweepIntervalMs: 20,
      retention: { intervalMs: 0 },
    });
    try {
      const c = new Conversation();
      await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
      });
      records.write(c.started());
      for (const [i, line] of uniqueFeedback(4242).entries()) records.write(c.segment(i + 1, line));
      for (const score of [90, 62]) records.write(c.score(score));
      await records.flush();
      now = Date.now() + 3 * 3_600_000; // past the session live limit and the writer's margin
      await vi.waitFor(
        async () => {
          const [reward] =
            await records.sql`select amount_minor, reason from rewards where session_id = ${c.sessionId}`;
          expect(reward).toEqual({ amount_minor: 1000, reason: "tier" });
        },
        { timeout: 20_000 },
      );
      const [session] = await records.sql`
        select s.end_reason, f.score, f.summary from sessions s join final_scores f on f.session_id = s.id
        where s.id = ${c.sessionId}`;
      expect(session).toEqual({ end_reason: "NODE_LOST", score: 62, summary: "" });
    } finally {
      await records.close();
    }
  }, 120_000);
});
