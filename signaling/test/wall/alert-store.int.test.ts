// The wall's alerts kept in records (real Postgres): engines of two nodes on
// one database keep each alert once, under the one id both sent their walls;
// an engine started again (a node restarted) shows the alerts raised before
// in its snapshots, within the business; and a store that fails holds up no
// live alert: it is logged and counted, and snapshots fall back to memory.
import { fromBinary } from "@bufbuild/protobuf";
import { type Alert, AlertKind, ServerMessageSchema } from "@parley/proto/wall";
import pino from "pino";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AlertEngine } from "../../src/wall/alerts/AlertEngine.ts";
import type { AlertStore } from "../../src/wall/alerts/AlertStore.ts";
import { RecordsAlertStore } from "../../src/wall/alerts/RecordsAlertStore.ts";
import type { WallScope } from "../../src/wall/scope.ts";
import { logger, type RecordsRig, recordsRig } from "./records-rig.ts";

let rig: RecordsRig;
let kafe = "";
const engines: AlertEngine[] = [];
beforeAll(async () => {
  rig = await recordsRig();
  kafe = await rig.addBusiness("Kafé Sol", "centrum");
}, 60_000);
afterAll(async () => {
  for (const e of engines) e.close();
  await rig?.close();
});

/** An engine as a node's wall makes it, on the rig's bus; what it sent its walls goes to `sent`. */
function engine(store: AlertStore | undefined, sent: Alert[] = [], log = logger): AlertEngine {
  const e = new AlertEngine({
    bus: rig.bus,
    broadcast: (_topics, frame) => {
      const m = fromBinary(ServerMessageSchema, frame);
      if (m.kind.case === "alert") sent.push(m.kind.value);
    },
    logger: log,
    lowScore: 30,
    negativeSentiment: -0.5,
    minWords: 3,
    topicSpike: { windowMs: 60_000, count: 2, coolOffMs: 600_000 },
    ...(store ? { store } : {}),
  });
  engines.push(e);
  return e;
}

const scope = (businessId: string | undefined, storeCodes?: string[]): WallScope => ({
  businessId,
  storeCodes: storeCodes ? new Set(storeCodes) : undefined,
  publicScreen: false,
});
/** What a dashboard subscribing now gets in its snapshot's alerts (as WallRequests gathers them). */
const snapshot = async (e: AlertEngine, s: WallScope, sinceMs = 0) => e.recent(s, sinceMs, await e.kept(s, sinceMs));

const rows = (sessionId: string) =>
  rig.records.sql<{ id: string; kind: string }[]>`
    select id, kind from wall_alerts where session_id = ${sessionId} order by kind`;

describe("alerts kept in records", () => {
  it("are kept once when two nodes' engines raise the same alert, under the one id both sent their walls", async () => {
    const [sentA, sentB] = [[] as Alert[], [] as Alert[]];
    const [a, b] = [
      engine(new RecordsAlertStore(rig.records.alerts), sentA),
      engine(new RecordsAlertStore(rig.records.alerts), sentB),
    ];
    const c = (await rig.begin("centrum", kafe)).start();
    c.segment(1, "the coffee was cold", true);
    c.score(10, { through: 1, sentiment: -0.9 });
    await Promise.all([a.settled(), b.settled()]);

    const kept = await rows(c.sessionId);
    expect(kept.map((r) => r.kind)).toEqual(["LOW_SCORE", "NEGATIVE_SENTIMENT"]);
    const ids = (sent: Alert[]) =>
      sent
        .filter((x) => x.sessionId === c.sessionId)
        .map((x) => x.id)
        .sort();
    expect(ids(sentA)).toEqual(kept.map((r) => r.id).sort());
    expect(ids(sentB)).toEqual(ids(sentA));

    // A topic spike both raise (business-wide): one row too.
    for (let i = 0; i < 2; i++)
      (await rig.begin("centrum", kafe)).start().end({ score: 20, sentiment: -0.8, topics: ["cold_coffee"] });
    await Promise.all([a.settled(), b.settled()]);
    const spikes = await rig.records.sql<{ id: string }[]>`
      select id from wall_alerts where business_id = ${kafe} and kind = 'TOPIC_SPIKE' and topic = 'cold_coffee'`;
    expect(spikes).toHaveLength(1);
    expect(sentA.filter((x) => x.kind === AlertKind.TOPIC_SPIKE).map((x) => x.id)).toEqual([spikes[0]!.id]);
    expect(sentB.filter((x) => x.kind === AlertKind.TOPIC_SPIKE).map((x) => x.id)).toEqual([spikes[0]!.id]);
    // Each node's snapshot shows each alert once.
    for (const e of [a, b]) {
      const shown = (await snapshot(e, scope(kafe))).map((x) => x.id);
      expect(new Set(shown).size).toBe(shown.length);
      expect(shown).toEqual(expect.arrayContaining([...kept.map((r) => r.id), spikes[0]!.id]));
    }
  });

  it("are in the snapshots of an engine started again on the same database, within the business only", async () => {
    const before = engine(new RecordsAlertStore(rig.records.alerts));
    const flagged = await rig.begin("centrum", kafe);
    before.fraudFlagged({
      sessionId: flagged.sessionId,
      businessId: kafe,
      storeCode: "centrum",
      rule: "duplicate_receipt",
    });
    const raised = before.recent(scope(kafe), 0)[0]!;
    await before.settled();
    before.close();

    // The node restarted: a new engine, nothing in memory.
    const after = engine(new RecordsAlertStore(rig.records.alerts));
    const shown = await snapshot(after, scope(kafe));
    expect(shown.find((x) => x.sessionId === flagged.sessionId)).toMatchObject({
      id: raised.id,
      kind: AlertKind.FRAUD_FLAGGED,
      businessId: kafe,
      storeCode: "centrum",
      detail: "duplicate_receipt",
      atMs: raised.atMs,
    });
    // Newest first, as the snapshot promises.
    expect(shown.map((x) => x.atMs)).toEqual([...shown.map((x) => x.atMs)].sort((x, y) => (x > y ? -1 : 1)));
    // Another business, or a wall of another store, sees none of it; admins see it.
    const theirs = await snapshot(after, scope(rig.demoBusiness));
    expect(theirs.some((x) => x.businessId === kafe)).toBe(false);
    expect((await snapshot(after, scope(kafe, ["north"]))).some((x) => x.sessionId === flagged.sessionId)).toBe(false);
    expect((await snapshot(after, scope(undefined))).some((x) => x.id === raised.id)).toBe(true);
    // A public screen shows no alerts.
    expect(await after.kept({ ...scope(kafe), publicScreen: true }, 0)).toBeUndefined();
  });

  it("are in a snapshot only when raised since the viewer's day began: yesterday's are not shown as today's", async () => {
    const dayStart = Date.now() - 3_600_000;
    const business = await rig.addBusiness("Kafé Natt", "natt");
    const keptAt = async (atMs: number) => {
      const sessionId = crypto.randomUUID();
      const key = `LOW_SCORE:${sessionId}`;
      const kept = { id: `a-${sessionId}`, kind: "LOW_SCORE" as const, businessId: business, storeCode: "natt" };
      await rig.records.alerts.save({
        ...kept,
        key,
        sessionId,
        topic: "",
        score: 9,
        sentiment: -0.9,
        count: 0,
        live: true,
        detail: "",
        atMs,
      });
      return kept.id;
    };
    const yesterday = await keptAt(dayStart - 10 * 3_600_000);
    const today = await keptAt(dayStart + 1);
    const e = engine(new RecordsAlertStore(rig.records.alerts));
    expect((await snapshot(e, scope(business), dayStart)).map((x) => x.id)).toEqual([today]);
    expect((await snapshot(e, scope(business))).map((x) => x.id)).toEqual([today, yesterday]);
  });

  it("hold up no live alert when the store fails: logged with the session id and counted; snapshots fall back to memory", async () => {
    const failed = async () =>
      (await register.getSingleMetric("wall_alerts_stored_total")?.get())?.values.find(
        (v) => v.labels.result === "failed",
      )?.value ?? 0;
    const before = await failed();
    // A store whose database is gone (closed): every query fails.
    const gone = await recordsRig();
    await gone.close();
    const lines: { msg: string; sessionId?: string }[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const sent: Alert[] = [];
    const e = engine(new RecordsAlertStore(gone.records.alerts), sent, log);
    const sessionId = crypto.randomUUID();
    e.fraudFlagged({ sessionId, businessId: kafe, storeCode: "centrum", rule: "replayed_audio" });
    // Out at once, before the save is even answered.
    expect(sent.map((x) => x.sessionId)).toEqual([sessionId]);
    await e.settled();
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining("alert not kept"), sessionId }),
    );
    expect(await failed()).toBe(before + 1);
    const shown = await snapshot(e, scope(kafe));
    expect(shown.map((x) => x.id)).toEqual([sent[0]!.id]);
    expect(lines.map((l) => l.msg)).toContain("kept alerts unavailable: this node's alerts only");
  });
});
