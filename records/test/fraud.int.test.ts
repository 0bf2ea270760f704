// Each fraud and quality rule on a real PostgreSQL 15: the reward is withheld,
// the flag is stored with its reason, and only fraud (not poor quality) counts
// as feedback_sessions_total{status="fraud_detected"}.
import { randomUUID } from "node:crypto";
import { RewardStatus } from "@parley/proto/live";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Records } from "../src/index.ts";
import type { PostgresCluster } from "../src/testing/index.ts";
import { Conversation, openRecords, recording, replayed, startCluster, uniqueFeedback } from "./helpers.ts";

let pg: PostgresCluster;
beforeAll(async () => {
  pg = await startCluster();
});
afterAll(() => pg?.destroy());

let n = 5000;
interface Visit {
  lines?: string[];
  deviceId?: string;
  ip?: string;
  receipt?: string;
  audio?: Int16Array;
  relevance?: number;
  score?: number;
}
async function visit(records: Records, v: Visit = {}) {
  const c = new Conversation();
  await records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: v.deviceId ?? randomUUID(),
    ip: v.ip ?? `10.9.${n % 250}.${++n % 250}`,
    receipt: v.receipt,
  });
  records.write(c.started());
  if (v.audio) {
    const tap = records.audioTap(c.sessionId);
    for (let i = 0; i < v.audio.length; i += 320) tap.push(v.audio.subarray(i, i + 320));
  }
  for (const [i, line] of (v.lines ?? uniqueFeedback(++n)).entries()) records.write(c.segment(i + 1, line));
  records.write(c.ended(v.score ?? 80, v.relevance ?? 0.9));
  await records.flush();
  return outcome(records, c.sessionId);
}

/** A session begun (POST /api/sessions) that never ran: the node turned the customer away. */
async function turnedAway(records: Records, v: { deviceId?: string; receipt?: string }) {
  await records.beginSession({
    sessionId: randomUUID(),
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: v.deviceId ?? randomUUID(),
    ip: `10.8.${n % 250}.${++n % 250}`,
    receipt: v.receipt,
  });
  await records.flush();
}

async function outcome(records: Records, sessionId: string) {
  const flags = await records.sql<{ rule: string; severity: string }[]>`
    select rule, severity from fraud_flags where session_id = ${sessionId} order by rule`;
  const [reward] = await records.sql<{ amount_minor: number; status: string }[]>`
    select amount_minor, status from rewards where session_id = ${sessionId}`;
  return { sessionId, rules: flags.map((f) => f.rule), flags, reward: reward! };
}

describe("fraud and quality rules", () => {
  let records: Records;
  const counted: string[] = [];
  const published: RewardStatus[] = [];
  beforeAll(async () => {
    records = await openRecords(await pg.createDatabase(), {
      countSession: (labels) => counted.push(labels.status),
      publish: (_t, e) => {
        if (e.kind.case === "reward") published.push(e.kind.value.status);
      },
    });
  });
  afterAll(() => records?.close());

  it("pay an honest first visit", async () => {
    const v = await visit(records, { receipt: "R-1001" });
    expect(v.rules).toEqual([]);
    expect(v.reward).toEqual({ amount_minor: 2000, status: "claimable" });
  });

  it("withhold a second session for the same receipt", async () => {
    const v = await visit(records, { receipt: " r-1001 " }); // normalised like the first
    expect(v.rules).toEqual(["duplicate_receipt"]);
    expect(v.reward).toEqual({ amount_minor: 0, status: "withheld" });
  });

  it("pay a retry of a receipt whose first session never ran (the customer was turned away)", async () => {
    await turnedAway(records, { receipt: "R-3003" });
    const retry = await visit(records, { receipt: "R-3003" });
    expect(retry.rules).toEqual([]);
    expect(retry.reward.status).toBe("claimable");
  });

  it("pay a retry of a receipt whose first session was joined but heard nothing (turned away after joining)", async () => {
    const first = await visit(records, { receipt: "R-3005", lines: [] });
    expect(first.rules).toEqual(["empty"]);
    const retry = await visit(records, { receipt: "R-3005" });
    expect(retry.rules).toEqual([]);
    expect(retry.reward.status).toBe("claimable");
  });

  it("count sessions held open at once toward a device's velocity, whatever order they end in", async () => {
    const deviceId = randomUUID();
    const held = Array.from({ length: 4 }, () => new Conversation());
    for (const c of held) {
      await records.beginSession({
        sessionId: c.sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
        deviceId,
        ip: `10.7.${n % 250}.${++n % 250}`,
      });
      records.write(c.started());
      await records.flush(); // each its own creation time (one batch shares its transaction's)
    }
    // Ended newest first, each decided before the next ends: each decision sees the older ones still talking.
    for (const c of [...held].reverse()) {
      for (const [i, line] of uniqueFeedback(++n).entries()) records.write(c.segment(i + 1, line));
      records.write(c.ended(80, 0.9));
      await records.flush();
      await expect.poll(async () => (await outcome(records, c.sessionId)).reward).toBeDefined();
    }
    const rules = await Promise.all(held.map(async (c) => (await outcome(records, c.sessionId)).rules));
    expect(rules.flat()).toContain("device_velocity");
  });

  it("withhold a receipt whose first session was decided, though it earned nothing", async () => {
    const first = await visit(records, { receipt: "R-3004", score: 20 });
    expect(first.reward).toEqual({ amount_minor: 0, status: "none" });
    const again = await visit(records, { receipt: "R-3004" });
    expect(again.rules).toEqual(["duplicate_receipt"]);
    expect(again.reward.status).toBe("withheld");
  });

  it("count toward a device's velocity only the sessions that ran", async () => {
    const deviceId = randomUUID();
    for (let i = 0; i < 3; i++) await turnedAway(records, { deviceId });
    expect((await visit(records, { deviceId })).rules).toEqual([]);
  });

  it("withhold when one device or one IP has too many sessions in the window", async () => {
    const deviceId = randomUUID();
    const device = [];
    for (let i = 0; i < 4; i++) device.push(await visit(records, { deviceId }));
    expect(device.map((v) => v.rules)).toEqual([[], [], [], ["device_velocity"]]); // at most 3 a day
    const ip = [];
    for (let i = 0; i < 21; i++) ip.push(await visit(records, { ip: "192.0.2.77" }));
    expect(ip.slice(0, 20).every((v) => v.rules.length === 0)).toBe(true);
    expect(ip[20]!.rules).toEqual(["ip_velocity"]); // at most 20 a day
  }, 60_000);

  it("recognise the same recording played again, and not a different one", async () => {
    const original = recording("sense_and_sensibility_01_austen_64kb-0870.wav");
    const other = recording("sense_and_sensibility_01_austen_64kb-0890.wav");
    expect((await visit(records, { audio: original })).rules).toEqual([]);
    expect((await visit(records, { audio: other })).rules).toEqual([]);
    const replay = await visit(records, { audio: replayed(original, 3000, 0.5, 500) });
    expect(replay.rules).toEqual(["replayed_audio"]);
    expect(replay.reward.status).toBe("withheld");
  });

  it("withhold on a flag an earlier run stored, though this run has no fingerprint to find it again", async () => {
    // The first finalize stored replayed_audio, then failed before deciding; the recovery sweep decides.
    const v = await visit(records);
    await records.sql`delete from rewards where session_id = ${v.sessionId}`;
    await records.sql`
      insert into fraud_flags (session_id, rule, severity, detail)
      values (${v.sessionId}, 'replayed_audio', 'fraud', ${records.sql.json({ matchedSession: "earlier" })})`;
    const decision = await records.finalizer.finalize(v.sessionId);
    expect(decision).toMatchObject({ status: "withheld", amountMinor: 0, reason: "flagged" });
    expect(decision?.flags.map((f) => f.rule)).toEqual(["replayed_audio"]);
  });

  it("withhold a transcript copied from another session", async () => {
    const lines = uniqueFeedback(424242);
    expect((await visit(records, { lines })).rules).toEqual([]);
    const copy = [...lines];
    copy[2] = `${copy[2]} thanks`; // a small change does not make it new
    expect((await visit(records, { lines: copy })).rules).toEqual(["near_duplicate_transcript"]);
  });

  it("withhold empty, off-topic and scripted feedback, and count only fraud as fraud_detected", async () => {
    counted.length = 0;
    const empty = await visit(records, { lines: ["um", "okay"] });
    expect(empty.flags).toEqual([{ rule: "empty", severity: "quality" }]);
    const offTopic = await visit(records, { relevance: 0.05 });
    expect(offTopic.flags).toEqual([{ rule: "off_topic", severity: "quality" }]);
    const script = await visit(records, {
      lines: ["best store ever five stars", "best store ever five stars", "best store ever five stars really"],
    });
    expect(script.flags).toEqual([{ rule: "scripted", severity: "fraud" }]);
    for (const v of [empty, offTopic, script]) expect(v.reward.status).toBe("withheld");
    expect(counted).toEqual(["fraud_detected"]);
    expect(published.at(-1)).toBe(RewardStatus.WITHHELD);
  });
});

describe("with ENABLE_FRAUD_DETECTION off", () => {
  it("pays by the policy alone and stores no flags", async () => {
    const records = await openRecords(await pg.createDatabase(), { fraud: { enabled: false } });
    try {
      const receipt = "R-2002";
      const a = await visit(records, { receipt });
      const b = await visit(records, { receipt, lines: ["um"] });
      expect([a.reward.status, b.reward.status]).toEqual(["claimable", "claimable"]);
      const [row] = await records.sql`select count(*)::int as n from fraud_flags`;
      expect(row!.n).toBe(0);
    } finally {
      await records.close();
    }
  });
});

describe("IP velocity over IPv6", () => {
  it("counts the addresses of one /64 as one client", async () => {
    const records = await openRecords(await pg.createDatabase(), { fraud: { maxSessionsPerIp: 1 } });
    try {
      expect((await visit(records, { ip: "2001:db8:7:1::a" })).rules).toEqual([]);
      // The same subscriber's network, another address in it.
      expect((await visit(records, { ip: "2001:db8:7:1:ffff:1:2:3" })).rules).toEqual(["ip_velocity"]);
      expect((await visit(records, { ip: "2001:db8:7:2::a" })).rules).toEqual([]); // another /64
    } finally {
      await records.close();
    }
  });
});

/** Holds a SHARE lock on `table` (reads go on, inserts wait) until `release()`. */
async function holdInserts(sql: Records["sql"], table: string) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked!: () => void;
  const isLocked = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const transaction = sql.begin(async (tx) => {
    await tx`lock table ${tx(table)} in share mode`;
    locked();
    await released;
  });
  await Promise.race([isLocked, transaction]);
  return {
    release: async () => {
      release();
      await transaction;
    },
  };
}

/** Waits until an insert into `table` waits for its lock while another transaction waits too. */
async function untilTwoWait(sql: Records["sql"], table: string) {
  for (let tries = 0; ; tries++) {
    const [row] = await sql<{ on_table: number; waiting: number }[]>`
      select count(*) filter (where l.relation = ${table}::regclass)::int as on_table,
             count(distinct l.pid)::int as waiting
      from pg_locks l join pg_stat_activity a on a.pid = l.pid
      where not l.granted and a.datname = current_database()`;
    if (row!.on_table >= 1 && row!.waiting >= 2) return;
    if (tries > 1500) throw new Error(`two transactions never waited, one of them on ${table}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One phone's session: begun, its audio through the tap, then (later) its conversation written. */
async function beginPhone(records: Records, c: Conversation, audio: Int16Array, receipt: string) {
  await records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "v1" },
    deviceId: randomUUID(),
    ip: `10.7.0.${++n % 250}`,
    receipt,
  });
  const tap = records.audioTap(c.sessionId);
  for (let i = 0; i < audio.length; i += 320) tap.push(audio.subarray(i, i + 320));
}

function writeConversation(records: Records, c: Conversation, lines: string[]) {
  records.write(c.started());
  for (const [i, line] of lines.entries()) records.write(c.segment(i + 1, line));
  records.write(c.ended(80));
}

describe("sessions that end together", () => {
  it("on two nodes are compared with each other: the same recording, words and receipt are paid once", async () => {
    const url = await pg.createDatabase();
    const nodes = [await openRecords(url, { nodeId: "node-a" }), await openRecords(url, { nodeId: "node-b" })];
    try {
      const original = recording("sense_and_sensibility_01_austen_64kb-0870.wav");
      const lines = uniqueFeedback(777_001);
      const phones = [
        { records: nodes[0]!, c: new Conversation(), audio: original },
        { records: nodes[1]!, c: new Conversation(), audio: replayed(original, 3000, 0.5, 500) },
      ];
      for (const p of phones) await beginPhone(p.records, p.c, p.audio, "R-4004");
      for (const p of phones) await p.records.flush();
      // Each decision's rules run before either stores its fingerprint and signature: the inserts
      // wait here until the other decision waits too (on the same insert, or on the lock that
      // orders it after the first).
      const sql = nodes[0]!.sql;
      const fingerprints = await holdInserts(sql, "audio_fingerprints");
      const signatures = await holdInserts(sql, "transcript_signatures");
      for (const p of phones) writeConversation(p.records, p.c, lines);
      await untilTwoWait(sql, "audio_fingerprints");
      await fingerprints.release();
      await untilTwoWait(sql, "transcript_signatures");
      await signatures.release();
      for (const p of phones) await p.records.flush();

      const outcomes = await Promise.all(phones.map((p) => outcome(nodes[0]!, p.c.sessionId)));
      outcomes.sort((x, y) => x.rules.length - y.rules.length);
      expect(outcomes.map((o) => o.rules)).toEqual([
        [],
        ["duplicate_receipt", "near_duplicate_transcript", "replayed_audio"],
      ]);
      expect(outcomes.map((o) => o.reward.status)).toEqual(["claimable", "withheld"]);
    } finally {
      for (const records of nodes) await records.close();
    }
  }, 60_000);

  it("in one writer batch are decided in the order they ended: the first is paid, the second withheld", async () => {
    const records = await openRecords(await pg.createDatabase());
    try {
      const original = recording("sense_and_sensibility_01_austen_64kb-0870.wav");
      const lines = uniqueFeedback(777_002);
      const first = new Conversation();
      const second = new Conversation();
      await beginPhone(records, first, original, "R-4005");
      await beginPhone(records, second, replayed(original, 3000, 0.5, 500), "R-4005");
      await records.flush();
      writeConversation(records, first, lines);
      writeConversation(records, second, lines);
      await records.flush();
      const paid = await outcome(records, first.sessionId);
      expect(paid.rules).toEqual([]);
      expect(paid.reward.status).toBe("claimable");
      const withheld = await outcome(records, second.sessionId);
      expect(withheld.rules).toEqual(["duplicate_receipt", "near_duplicate_transcript", "replayed_audio"]);
      expect(withheld.reward).toEqual({ amount_minor: 0, status: "withheld" });
    } finally {
      await records.close();
    }
  }, 60_000);
});
