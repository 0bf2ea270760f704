// The backup → restore drill, against a real Postgres 15 (the test run's
// cluster): a database holding conversations written through records, then
// deploy/backup/pg-backup.sh, then pg-restore.sh into a fresh database, which
// must hold the same rows (count and a content checksum per table) and serve
// records again. Also what the runbook relies on: a damaged dump or a
// non-empty target is refused, and retention keeps the newest dumps.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { EndReason, type LiveEnvelope, LiveEnvelopeSchema, LiveEventSchema } from "@parley/proto/live";
import { Records } from "@parley/records";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
// The run's Postgres cluster (its URL is provided by this global setup; a type-only import).
import type {} from "../../signaling/test/postgres.global.ts";
import { at, tool } from "./support.ts";

const logger = pino({ level: "silent" });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "parley-backup-"));
const closers: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const openRecords = (databaseUrl: string) =>
  Records.create({
    databaseUrl,
    dataDir: "/nonexistent",
    nodeId: "drill-node",
    logger,
    authSecret: "drill-secret-that-is-at-least-32-characters",
    seedDemo: true,
    sweepIntervalMs: 0,
    retention: { intervalMs: 0 },
  });

/** One conversation's live envelopes, numbered as the node's bus numbers them. */
function conversation(sessionId: string, lines: string[], score: number): LiveEnvelope[] {
  let seq = 0n;
  const envelope = (kind: MessageInitShape<typeof LiveEventSchema>["kind"]) =>
    create(LiveEnvelopeSchema, {
      sessionId,
      storeCode: "demo",
      seq: ++seq,
      nodeId: "drill-node",
      publishedAtMs: BigInt(Date.now()),
      event: create(LiveEventSchema, { kind }),
    });
  return [
    envelope({
      case: "sessionStarted",
      value: {
        sessionId,
        storeCode: "demo",
        language: "sv-SE",
        startedAtMs: BigInt(Date.now()),
        nodeId: "drill-node",
      },
    }),
    ...lines.map((text, i) =>
      envelope({
        case: "transcript",
        value: {
          sessionId,
          segmentId: i,
          isFinal: true,
          speechFinal: true,
          text,
          words: text.split(" ").map((w, j) => ({
            text: w,
            startMs: i * 5000 + j * 300,
            endMs: i * 5000 + j * 300 + 250,
          })),
          startMs: i * 5000,
          endMs: i * 5000 + 4000,
          stability: 1,
        },
      }),
    ),
    envelope({
      case: "score",
      value: {
        sessionId,
        score: score - 5,
        specificity: 0.5,
        actionability: 0.4,
        sentiment: 0.2,
        relevance: 0.9,
        topics: ["service"],
        hint: "säg mer om kön",
        engine: "builtin",
        throughSegmentId: 0,
      },
    }),
    envelope({
      case: "aiTurn",
      value: { sessionId, turn: 1, text: "Vad kunde vi ha gjort bättre?", aimedAt: "actionability" },
    }),
    envelope({
      case: "conversationEnded",
      value: {
        sessionId,
        finalScore: {
          sessionId,
          score,
          specificity: 0.6,
          actionability: 0.5,
          sentiment: 0.3,
          relevance: 0.9,
          topics: ["service", "kö"],
          hint: "",
          engine: "builtin",
          isFinal: true,
          throughSegmentId: lines.length - 1,
        },
        summary: `Kunden pratade om ${lines.length} saker.`,
        reason: EndReason.CUSTOMER,
        rewardMinor: 0,
        currency: "",
      },
    }),
  ];
}

const FEEDBACK = [
  ["kassören vid andra kassan var väldigt trevlig", "men kön till bageriet tog nästan femton minuter"],
  ["the bread shelf was empty at six o'clock", "and the self scanner refused my card twice", "fix the scanner 🙏"],
  ["personalen i fiskdisken hjälpte mig att välja", "priserna på frukt var tydligt skyltade"],
];

/** Per table of the public schema: its row count and an md5 of all its rows in a fixed order. */
async function fingerprint(url: string): Promise<Record<string, { rows: number; md5: string }>> {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const tables = await sql<{ name: string }[]>`
      select tablename as name from pg_tables where schemaname = 'public' order by tablename`;
    const result: Record<string, { rows: number; md5: string }> = {};
    for (const { name } of tables) {
      const [row] = await sql.unsafe<{ rows: string; md5: string }[]>(
        `select count(*) as rows, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as md5 from "${name}" t`,
      );
      result[name] = { rows: Number(row?.rows), md5: String(row?.md5) };
    }
    return result;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

const script = (name: string, args: string[], env: Record<string, string>) =>
  tool("bash", [at("backup", name), ...args], { env: { ...process.env, ...env } });

let source: string;
let before: Record<string, { rows: number; md5: string }>;
const backups = path.join(tmp, "backups");

beforeAll(async () => {
  source = await createDatabaseAt(inject("parleyPostgresUrl"));
  const records = await openRecords(source);
  try {
    for (const [i, lines] of FEEDBACK.entries()) {
      const sessionId = randomUUID();
      await records.beginSession({
        sessionId,
        storeCode: "demo",
        consent: { given: true, version: "v1" },
        deviceId: randomUUID(),
        ip: `192.0.2.${i + 1}`,
      });
      for (const envelope of conversation(sessionId, lines ?? [], 60 + 10 * i)) records.write(envelope);
    }
    expect(await records.flush()).toBe(true);
  } finally {
    await records.close();
  }
  before = await fingerprint(source);
});

describe("backup and restore drill (real Postgres, deploy/backup scripts)", () => {
  it("the source holds the conversations: sessions, transcripts, scores, questions and reward decisions", () => {
    const rows = (table: string) => before[table]?.rows;
    expect(rows("sessions")).toBe(3);
    expect(rows("transcript_segments")).toBe(7);
    expect(rows("score_updates")).toBe(3);
    expect(rows("ai_questions")).toBe(3);
    expect(rows("final_scores")).toBe(3);
    expect(rows("rewards")).toBe(3);
  });

  it("pg-backup.sh writes a checked dump with its checksum; pg-restore.sh restores the same rows into a fresh database", async () => {
    const backup = script("pg-backup.sh", [], { DATABASE_URL: source, BACKUP_DIR: backups });
    expect(backup.status, backup.stderr).toBe(0);
    const dumps = fs.readdirSync(backups).filter((f) => /^parley-\d{8}T\d{6}Z\.dump$/.test(f));
    expect(dumps).toHaveLength(1);
    expect(fs.existsSync(path.join(backups, `${dumps[0]}.sha256`))).toBe(true);
    expect(fs.readdirSync(backups).filter((f) => f.endsWith(".partial"))).toEqual([]);

    const target = await createDatabaseAt(inject("parleyPostgresUrl"));
    const restore = script("pg-restore.sh", ["--latest"], { DATABASE_URL: target, BACKUP_DIR: backups });
    expect(restore.status, restore.stderr).toBe(0);
    expect(restore.stderr).toContain("checksum ok");
    expect(restore.stderr).toMatch(/public\.sessions 3/);

    const after = await fingerprint(target);
    expect(Object.keys(after).length).toBeGreaterThan(5);
    expect(after).toEqual(before);

    // The restored database serves records: migrations find it current, a new conversation lands.
    const records = await openRecords(target);
    closers.push(() => records.close());
    const sessionId = randomUUID();
    await records.beginSession({ sessionId, storeCode: "demo", consent: { given: true, version: "v1" } });
    for (const envelope of conversation(sessionId, ["allt var bra"], 50)) records.write(envelope);
    expect(await records.flush()).toBe(true);
    const [{ count } = { count: 0 }] = await records.sql<
      { count: number }[]
    >`select count(*)::int as count from sessions`;
    expect(count).toBe(4);

    // Restoring again over it is refused without --clean ...
    const again = script("pg-restore.sh", ["--latest"], { DATABASE_URL: target, BACKUP_DIR: backups });
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/already holds \d+ tables/);
  });

  it("pg-restore.sh refuses a damaged dump (its checksum no longer matches)", async () => {
    const damaged = path.join(tmp, "damaged");
    fs.mkdirSync(damaged);
    const [dump] = fs.readdirSync(backups).filter((f) => f.endsWith(".dump"));
    fs.copyFileSync(path.join(backups, `${dump}`), path.join(damaged, `${dump}`));
    fs.copyFileSync(path.join(backups, `${dump}.sha256`), path.join(damaged, `${dump}.sha256`));
    const fd = fs.openSync(path.join(damaged, `${dump}`), "r+");
    fs.writeSync(fd, Buffer.from([0xff, 0x00, 0xff]), 0, 3, 200);
    fs.closeSync(fd);
    const target = await createDatabaseAt(inject("parleyPostgresUrl"));
    const r = script("pg-restore.sh", [path.join(damaged, `${dump}`)], { DATABASE_URL: target });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("checksum mismatch");
    expect(Object.keys(await fingerprint(target))).toEqual([]);
  });

  it("pg-backup.sh deletes dumps past retention but keeps the newest BACKUP_KEEP_MIN", () => {
    const dir = path.join(tmp, "retention");
    fs.mkdirSync(dir);
    const old = ["20200101T000000Z", "20200102T000000Z", "20200103T000000Z", "20200104T000000Z"];
    for (const stamp of old) {
      for (const suffix of [".dump", ".dump.sha256"]) {
        const file = path.join(dir, `parley-${stamp}${suffix}`);
        fs.writeFileSync(file, "old");
        const longAgo = new Date("2020-02-01T00:00:00Z");
        fs.utimesSync(file, longAgo, longAgo);
      }
    }
    const r = script("pg-backup.sh", [], {
      DATABASE_URL: source,
      BACKUP_DIR: dir,
      BACKUP_RETENTION_DAYS: "30",
      BACKUP_KEEP_MIN: "3",
    });
    expect(r.status, r.stderr).toBe(0);
    const kept = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".dump"))
      .sort();
    // The new dump and the two newest old ones; every kept dump keeps its checksum.
    expect(kept).toHaveLength(3);
    expect(kept.slice(0, 2)).toEqual(["parley-20200103T000000Z.dump", "parley-20200104T000000Z.dump"]);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith(".sha256"))).toHaveLength(3);
  });
});
