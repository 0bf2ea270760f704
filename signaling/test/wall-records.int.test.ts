// The wall bound to records, on real nodes: dashboards sign in with records'
// logins, moderation outlives a node restart, a conversation records flags
// as fraud raises its alert and its withheld reward on the wall, the alert
// outlives a node restart (and goes with the customer's data), the monitor
// names businesses, history stays within a business, and /wall/ws holds at
// the edge like the customer's /ws.
import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AsrWorkerProcess } from "@parley/inference-bridge";
import { DashboardClient } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import { RewardStatus } from "@parley/proto/live";
import {
  AlertKind,
  type FeedbackFilterSchema,
  FeedbackStatus,
  ModerationStatus,
  type MonitorReport,
  Role,
  ScoreBand,
} from "@parley/proto/wall";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { WallCloseCode } from "../src/wall/WallClient.ts";
import { addBusiness, demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";

let asr: AsrWorkerProcess;
let databaseUrl: string;
let server: ParleyServer;
const clients: DashboardClient[] = [];
let demoId = "";
const logins = { owner: { email: "", password: "" }, admin: { email: "", password: "" } };

beforeAll(async () => {
  asr = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), maxStreams: 2 });
  databaseUrl = await createDatabaseAt(inject("parleyPostgresUrl"));
  server = await startServer({ ASR_WORKERS: asr.address, DATABASE_URL: databaseUrl, WS_MAX_SOCKETS_PER_IP: "6" });
  demoId = demoBusiness(server); // seeded on this first start only
  logins.owner = server.records.demo!.owner;
  logins.admin = server.records.demo!.admin;
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.close();
  await server?.close();
  await asr?.stop();
});

async function login(s: ParleyServer, credentials: { email: string; password: string }): Promise<string> {
  const res = await fetch(`${s.url}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(credentials),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

async function wall(
  s: ParleyServer,
  token: string,
  subscribe: Parameters<typeof DashboardClient.subscribed>[2] = undefined,
) {
  const opened = await DashboardClient.subscribed(s, token, subscribe);
  clients.push(opened.client);
  return opened;
}

let receipts = 0;
/** A conversation of this node published on its bus, as its sessions publish (records keeps it). */
async function conversation(
  s: ParleyServer,
  store: string,
  businessId: string,
  text: string,
  score: number,
  receipt = `R-${++receipts}`,
): Promise<FakeConversation & { dataCode: string }> {
  const c = new FakeConversation(s.bus, store, businessId, s.config.nodeId);
  const { dataCode } = await s.records.beginSession({
    sessionId: c.sessionId,
    storeCode: store,
    consent: { given: true, version: "test" },
    deviceId: `d-${receipt}`,
    ip: `10.2.0.${receipts}`,
    receipt,
  });
  c.start();
  c.segment(1, text, true);
  c.end({ score, relevance: 0.9, topics: ["service"] });
  return Object.assign(c, { dataCode });
}

/** A page of a wall's history (GetFeedback); a refusal thrown with its code and message. */
async function askFeedback(
  client: DashboardClient,
  cursor: string,
  filter: MessageInitShape<typeof FeedbackFilterSchema>,
  limit: number,
) {
  const r = await client.request({ case: "getFeedback", value: { filter, limit, cursor } });
  if (r.case === "feedbackList") return r.value;
  throw Object.assign(new Error(`getFeedback: ${r.case}`), r.case === "error" ? r.value : {});
}

/** The handshake's outcome at /wall/ws: 101, or the status of the refusal. */
function handshake(s: ParleyServer, origin?: string): Promise<{ status: number; close: () => void }> {
  const url = new URL(s.url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: "/wall/ws",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        ...(origin ? { origin } : {}),
      },
    });
    req.on("upgrade", (res, socket) => resolve({ status: res.statusCode ?? 0, close: () => socket.destroy() }));
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, close: () => {} });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the wall bound to records", () => {
  it("signs dashboards in with records' logins: an owner gets their business, an admin everything", async () => {
    const owner = await DashboardClient.open(server);
    clients.push(owner);
    const welcome = await owner.request({ case: "hello", value: { token: await login(server, logins.owner) } });
    expect(welcome.case === "welcome" && welcome.value).toMatchObject({
      role: Role.OWNER,
      businessId: demoId,
    });
    const admin = await DashboardClient.open(server);
    clients.push(admin);
    const adminWelcome = await admin.request({ case: "hello", value: { token: await login(server, logins.admin) } });
    expect(adminWelcome.case === "welcome" && adminWelcome.value.role).toBe(Role.ADMIN);
  });

  it("keeps moderation across a node restart", async () => {
    const good = await conversation(server, "demo", demoId, "the cold brew was lovely today", 92);
    await server.records.flush();
    const owner = await wall(server, await login(server, logins.owner));
    expect(owner.snapshot.historySource).toBe("records");
    expect(owner.snapshot.recent.map((f) => f.sessionId)).toContain(good.sessionId);
    const approve = { sessionId: good.sessionId, status: ModerationStatus.APPROVED };
    expect((await owner.client.request({ case: "moderate", value: approve })).case).toBe("done");
    const settings = { autoApproveAbove: 90, redactedPhrases: ["cold brew"] };
    expect((await owner.client.request({ case: "setModerationSettings", value: { settings } })).case).toBe("done");
    owner.client.close();

    await server.close();
    server = await startServer({ ASR_WORKERS: asr.address, DATABASE_URL: databaseUrl, WS_MAX_SOCKETS_PER_IP: "6" });
    expect(server.records.demo).toBeUndefined(); // the same database: not seeded again

    const again = await wall(server, await login(server, logins.owner));
    expect(again.snapshot.moderation).toContainEqual(
      expect.objectContaining({ sessionId: good.sessionId, status: ModerationStatus.APPROVED, automatic: false }),
    );
    expect(again.snapshot.moderationSettings).toMatchObject(settings);
    const screen = await wall(server, await login(server, logins.owner), {
      case: "subscribe",
      value: { publicScreen: true },
    });
    expect(screen.snapshot.publicFeedback.map((p) => [p.sessionId, p.text])).toEqual([
      [good.sessionId, "the ███ was lovely today"],
    ]);
    expect(screen.snapshot.recent).toEqual([]);
    for (const c of [again.client, screen.client]) c.close();
  }, 120_000);

  it("masks phone numbers and e-mail addresses on public screens, the owner's wall showing the words", async () => {
    const owner = await wall(server, await login(server, logins.owner));
    const before = owner.snapshot.moderationSettings!;
    const settings = { autoApproveAbove: 1, redactedPhrases: ["cold brew"] };
    expect((await owner.client.request({ case: "setModerationSettings", value: { settings } })).case).toBe("done");
    const screen = await wall(server, await login(server, logins.owner), {
      case: "subscribe",
      value: { publicScreen: true },
    });
    const said = "the cold brew was great, call me back on 070-123 45 67 or mail anna.svensson@example.com";
    const shown = "the ███ was great, call me back on ███ or mail ███";
    const c = await conversation(server, "demo", demoId, said, 80);
    await server.records.flush();
    // Approved automatically (above 1) once records decided the reward: the screen hears it masked.
    const heard = await screen.client.waitFor(
      (m) => m.kind.case === "publicFeedback" && m.kind.value.sessionId === c.sessionId,
      20_000,
    );
    expect(heard.kind.case === "publicFeedback" && heard.kind.value.text).toBe(shown);
    const later = await wall(server, await login(server, logins.owner), {
      case: "subscribe",
      value: { publicScreen: true },
    });
    expect(later.snapshot.publicFeedback.find((p) => p.sessionId === c.sessionId)?.text).toBe(shown);
    // The business's own wall is no public screen: the customer's words as said.
    const own = await wall(server, await login(server, logins.owner));
    expect(own.snapshot.recent.find((f) => f.sessionId === c.sessionId)?.transcript).toBe(said);
    const open = await own.client.request({ case: "getConversation", value: { sessionId: c.sessionId } });
    expect(open.case === "conversation" && open.value.segments.map((x) => x.text)).toEqual([said]);
    const restore = { autoApproveAbove: before.autoApproveAbove, redactedPhrases: before.redactedPhrases };
    expect((await owner.client.request({ case: "setModerationSettings", value: { settings: restore } })).case).toBe(
      "done",
    );
    for (const x of [owner.client, screen.client, later.client, own.client]) x.close();
  }, 60_000);

  it("takes deleted feedback off public screens and the business's dashboards at once, and out of every drill-down", async () => {
    const shown = await conversation(server, "demo", demoId, "the oat latte was perfect", 95);
    await server.records.flush();
    const owner = await wall(server, await login(server, logins.owner));
    // Ended minutes ago at most: the wall still keeps its live copy, which a drill-down falls back to.
    expect(owner.snapshot.live.map((e) => e.sessionId)).toContain(shown.sessionId);
    const open = { case: "getConversation" as const, value: { sessionId: shown.sessionId } };
    expect((await owner.client.request(open)).case).toBe("conversation");
    const approve = { sessionId: shown.sessionId, status: ModerationStatus.APPROVED };
    expect((await owner.client.request({ case: "moderate", value: approve })).case).toBe("done");
    const screen = await wall(server, await login(server, logins.owner), {
      case: "subscribe",
      value: { publicScreen: true },
    });
    expect(screen.snapshot.publicFeedback.map((p) => p.sessionId)).toContain(shown.sessionId);

    const deleted = await fetch(`${server.url}/api/customer/sessions/${shown.sessionId}?forfeitReward=true`, {
      method: "DELETE",
      headers: { "x-parley-data-code": shown.dataCode },
    });
    expect(deleted.status).toBe(200);
    await screen.client.waitFor((m) => m.kind.case === "publicWithdrawn" && m.kind.value.sessionId === shown.sessionId);
    await owner.client.waitFor(
      (m) => m.kind.case === "conversationDeleted" && m.kind.value.sessionId === shown.sessionId,
    );
    const reopened = await owner.client.request(open);
    expect(reopened.case === "error" && reopened.value.code).toBe(ErrorCode.NOT_FOUND);
    const later = await wall(server, await login(server, logins.owner));
    expect(later.snapshot.live.map((e) => e.sessionId)).not.toContain(shown.sessionId);
    expect(later.snapshot.recent.map((f) => f.sessionId)).not.toContain(shown.sessionId);
    for (const c of [owner.client, screen.client, later.client]) c.close();
  });

  it("shows a fraud-flagged conversation's alert and withheld reward on its business's wall only", async () => {
    const acme = await addBusiness(server, "Acme", "north");
    const demoWall = await wall(server, await login(server, logins.owner));
    const acmeWall = await wall(
      server,
      server.dashboardTokens.issue({ userId: "acme-owner", role: "owner", businessId: acme }, 60_000),
    );
    await conversation(server, "demo", demoId, "fresh bread and a friendly baker", 80, "SAME-1");
    const again = await conversation(server, "demo", demoId, "the parking lot was full at noon", 80, " same-1");
    const alert = await demoWall.client.waitFor(
      (m) => m.kind.case === "alert" && m.kind.value.kind === AlertKind.FRAUD_FLAGGED,
      20_000,
    );
    expect(alert.kind.value).toMatchObject({ sessionId: again.sessionId, detail: "duplicate_receipt" });
    const reward = await demoWall.client.waitFor(
      (m) =>
        m.kind.case === "live" &&
        m.kind.value.sessionId === again.sessionId &&
        m.kind.value.event?.kind.case === "reward",
    );
    const update =
      reward.kind.case === "live" && reward.kind.value.event?.kind.case === "reward"
        ? reward.kind.value.event.kind.value
        : undefined;
    expect(update).toMatchObject({ status: RewardStatus.WITHHELD, amountMinor: 0 });

    // History, tiles and the drill-down say so; Acme's wall knows nothing of any of it.
    const tiles = await demoWall.client.request({ case: "getTiles", value: { utcOffsetMinutes: 60 } });
    expect(tiles.case === "tiles" && tiles.value).toMatchObject({ fraudFlagsToday: 1 });
    const drill = await demoWall.client.request({ case: "getConversation", value: { sessionId: again.sessionId } });
    expect(drill.case === "conversation" && drill.value.feedback).toMatchObject({
      fraudFlags: ["duplicate_receipt"],
      rewardStatus: "withheld",
    });
    const denied = await acmeWall.client.request({ case: "getConversation", value: { sessionId: again.sessionId } });
    expect(denied.case === "error" && denied.value.code).toBe(ErrorCode.NOT_FOUND);
    const acmeTiles = await acmeWall.client.request({ case: "getTiles", value: {} });
    expect(acmeTiles.case === "tiles" && acmeTiles.value).toMatchObject({ todayCount: 0, fraudFlagsToday: 0 });
    const acmeTrends = await acmeWall.client.request({ case: "getTrends", value: {} });
    expect(acmeTrends.case === "trends" && acmeTrends.value.buckets.every((b) => b.count === 0)).toBe(true);
    expect(acmeWall.client.messages.some((m) => m.kind.case === "alert" || m.kind.case === "live")).toBe(false);
    for (const c of [demoWall.client, acmeWall.client]) c.close();
  }, 60_000);

  it("keeps the wall's alerts across a node restart, for its business only, until the customer deletes the conversation", async () => {
    const acme = await addBusiness(server, "Acme Kept", "kept-north");
    const owner = await wall(server, await login(server, logins.owner));
    await conversation(server, "demo", demoId, "a warm welcome and fresh buns", 80, "KEPT-7");
    const again = await conversation(server, "demo", demoId, "the car park was empty this morning", 80, " kept-7");
    const heard = await owner.client.waitFor(
      (m) => m.kind.case === "alert" && m.kind.value.sessionId === again.sessionId,
      20_000,
    );
    const raised = heard.kind.case === "alert" ? heard.kind.value : undefined;
    expect(raised).toMatchObject({ kind: AlertKind.FRAUD_FLAGGED, detail: "duplicate_receipt" });
    owner.client.close();

    // A deploy: the node restarts on the same database and remembers nothing.
    await server.close();
    server = await startServer({ ASR_WORKERS: asr.address, DATABASE_URL: databaseUrl, WS_MAX_SOCKETS_PER_IP: "6" });
    const later = await wall(server, await login(server, logins.owner));
    expect(later.snapshot.alerts.filter((a) => a.sessionId === again.sessionId)).toEqual([
      expect.objectContaining({ id: raised!.id, kind: AlertKind.FRAUD_FLAGGED, storeCode: "demo", atMs: raised!.atMs }),
    ]);
    const admin = await wall(server, await login(server, logins.admin));
    expect(admin.snapshot.alerts.map((a) => a.id)).toContain(raised!.id);
    const acmeWall = await wall(
      server,
      server.dashboardTokens.issue({ userId: "acme-owner", role: "owner", businessId: acme }, 60_000),
    );
    expect(acmeWall.snapshot.alerts).toEqual([]);

    // The customer deletes their data: its alerts go too, from the database and every later snapshot.
    const deleted = await fetch(`${server.url}/api/customer/sessions/${again.sessionId}?forfeitReward=true`, {
      method: "DELETE",
      headers: { "x-parley-data-code": again.dataCode },
    });
    expect(deleted.status).toBe(200);
    const [kept] = await server.records.sql<{ n: number }[]>`
      select count(*)::int as n from wall_alerts where session_id = ${again.sessionId}`;
    expect(kept!.n).toBe(0);
    const afterDeletion = await wall(server, await login(server, logins.owner));
    expect(afterDeletion.snapshot.alerts.some((a) => a.sessionId === again.sessionId)).toBe(false);
    for (const c of [later.client, admin.client, acmeWall.client, afterDeletion.client]) c.close();
  }, 120_000);

  it("names businesses in the monitor", async () => {
    const admin = await wall(server, await login(server, logins.admin));
    expect((await admin.client.request({ case: "watchMonitor", value: { on: true } })).case).toBe("done");
    // A conversation on another node: the monitor knows it from its events.
    const elsewhere = new FakeConversation(server.bus, "demo", demoId, "node-b").start();
    const report = await admin.client.waitFor(
      (m) => m.kind.case === "monitor" && m.kind.value.sessions.some((s) => s.sessionId === elsewhere.sessionId),
      20_000,
    );
    const row = (report.kind.value as MonitorReport).sessions.find((s) => s.sessionId === elsewhere.sessionId)!;
    expect(row).toMatchObject({ businessId: demoId, businessName: "Demo business", nodeId: "node-b" });
    elsewhere.end({ score: 50 });
    admin.client.close();
  }, 60_000);

  it("signs a staff member's dashboard out when the owner removes them or changes their stores, and no one else's", async () => {
    for (const c of clients) c.close(); // the node's share of sockets per client address
    const ownerToken = await login(server, logins.owner);
    const addStaff = async (stores: string[] | null) => {
      const credentials = {
        email: `staff-${randomBytes(4).toString("hex")}@demo.test`,
        password: "a long enough password",
      };
      const res = await fetch(`${server.url}/api/businesses/${demoId}/users`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${ownerToken}` },
        body: JSON.stringify({ ...credentials, stores }),
      });
      expect(res.status).toBe(201);
      return { ...credentials, id: ((await res.json()) as { id: string }).id };
    };
    const change = (method: string, path: string, body?: unknown) =>
      fetch(`${server.url}/api/businesses/${demoId}/users/${path}`, {
        method,
        headers: { "content-type": "application/json", authorization: `Bearer ${ownerToken}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    const limited = await addStaff(["demo"]);
    const unlimited = await addStaff(null);
    const limitedWall = (await wall(server, await login(server, limited))).client;
    const unlimitedWall = (await wall(server, await login(server, unlimited))).client;
    const ownerWall = (await wall(server, ownerToken)).client;

    // The owner takes the limited member's store away: their open wall is signed out.
    expect((await change("PUT", `${limited.id}/stores`, { stores: [] })).status).toBe(200);
    const signedOut = await limitedWall.waitClosed(30_000);
    expect(signedOut.code).toBe(WallCloseCode.UNAUTHENTICATED);
    expect(signedOut.reason).toMatch(/access changed/);
    // The owner removes the other: the same.
    expect((await change("DELETE", unlimited.id)).status).toBe(200);
    expect((await unlimitedWall.waitClosed(30_000)).code).toBe(WallCloseCode.UNAUTHENTICATED);
    // The owner's own wall went through the same re-checks, and stays.
    expect((await ownerWall.request({ case: "getTiles", value: {} })).case).toBe("tiles");
    expect(ownerWall.closed).toBeUndefined();
    // Signing in again gives the new limit: no store, so no store's topic.
    const again = await DashboardClient.open(server);
    clients.push(again);
    const welcome = await again.request({ case: "hello", value: { token: await login(server, limited) } });
    expect(welcome.case === "welcome" && welcome.value).toMatchObject({ role: Role.STAFF, storeCodes: [] });
  }, 90_000);

  it("answers a wall's filter with the history that matches it, beyond the snapshot's latest, within the caller's scope", async () => {
    // Another store of the demo business (this node's records did not seed it: the node restarted).
    await server.records.sql`
      insert into stores (id, business_id, code, name, language, reward_policy)
      select gen_random_uuid(), ${demoId}, 'annex', 'annex', 'en-US', reward_policy from stores where code = 'demo'`;
    const bolag = await addBusiness(server, "Bolag", "bolag1");
    const annex = await conversation(server, "annex", demoId, "the annex had a lovely reading corner", 30);
    // A repeated receipt: records flags the second as fraud.
    await conversation(server, "demo", demoId, "the bakery counter smelled wonderful", 60, "FILTER-DUP");
    const duplicate = await conversation(
      server,
      "demo",
      demoId,
      "lights in aisle four were flickering",
      60,
      " filter-dup",
    );
    const others = [
      await conversation(server, "demo", demoId, "the self checkout kept freezing on me", 75),
      await conversation(server, "demo", demoId, "they had run out of oat milk again", 72),
      await conversation(server, "demo", demoId, "a very helpful person at the information desk", 90),
    ];
    await conversation(server, "bolag1", bolag, "another business's shop was tidy and calm", 20);
    await server.records.flush();
    // A wall whose snapshot holds the two latest of the business: the annex's is not among them.
    const owner = await wall(server, await login(server, logins.owner), {
      case: "subscribe",
      value: { recentLimit: 2 },
    });
    // The annex's conversation is older than the snapshot's two (which two exactly depends on when
    // each end was written, on a busy machine): only the filter below can find it.
    expect(owner.snapshot.recent).toHaveLength(2);
    expect(owner.snapshot.recent.map((f) => f.sessionId)).not.toContain(annex.sessionId);
    const feedback = async (client: DashboardClient, filter: MessageInitShape<typeof FeedbackFilterSchema>) => {
      const r = await client.request({ case: "getFeedback", value: { filter, limit: 50 } });
      if (r.case !== "feedbackList") return r.case === "error" ? r.value.code : r.case;
      return r.value.feedback.map((f) => f.sessionId);
    };
    expect(await feedback(owner.client, { storeCodes: ["annex"] })).toEqual([annex.sessionId]);
    expect(await feedback(owner.client, { scoreBand: ScoreBand.LOW })).toContain(annex.sessionId);
    expect(await feedback(owner.client, { scoreBand: ScoreBand.LOW })).not.toContain(others[0]!.sessionId);
    expect(await feedback(owner.client, { storeCodes: ["demo"], scoreBand: ScoreBand.HIGH })).toEqual(
      expect.arrayContaining(others.map((c) => c.sessionId)),
    );
    // Flagged by a fraud rule (records decides just after the end), or not.
    await expect
      .poll(() => feedback(owner.client, { status: FeedbackStatus.FLAGGED }), { timeout: 20_000 })
      .toContain(duplicate.sessionId);
    expect(await feedback(owner.client, { status: FeedbackStatus.FLAGGED })).not.toContain(annex.sessionId);
    expect(await feedback(owner.client, { status: FeedbackStatus.ENDED })).toContain(annex.sessionId);
    expect(await feedback(owner.client, { status: FeedbackStatus.ENDED })).not.toContain(duplicate.sessionId);
    expect(await feedback(owner.client, { storeCodes: ["annex"], status: FeedbackStatus.FLAGGED })).toEqual([]);
    // Moderation comes with the list.
    const approve = { sessionId: annex.sessionId, status: ModerationStatus.APPROVED };
    expect((await owner.client.request({ case: "moderate", value: approve })).case).toBe("done");
    const list = await owner.client.request({ case: "getFeedback", value: { filter: { storeCodes: ["annex"] } } });
    expect(list.case === "feedbackList" && list.value.moderation).toMatchObject([approve]);

    // Tenancy first: another business's store, or staff's store not theirs, is not found; the
    // other business's low score never comes with the demo business's.
    expect(await feedback(owner.client, { storeCodes: ["bolag1"] })).toBe(ErrorCode.NOT_FOUND);
    const staff = await wall(
      server,
      server.dashboardTokens.issue(
        { userId: "staff-demo", role: "staff", businessId: demoId, storeCodes: ["demo"] },
        60_000,
      ),
    );
    expect(await feedback(staff.client, { storeCodes: ["annex"] })).toBe(ErrorCode.NOT_FOUND);
    expect(await feedback(staff.client, { scoreBand: ScoreBand.LOW })).not.toContain(annex.sessionId);
    const bolagWall = await wall(
      server,
      server.dashboardTokens.issue({ userId: "bolag-owner", role: "owner", businessId: bolag }, 60_000),
    );
    const bolagLow = await feedback(bolagWall.client, { scoreBand: ScoreBand.LOW });
    expect(bolagLow).toHaveLength(1);
    expect(await feedback(owner.client, { scoreBand: ScoreBand.LOW })).not.toContain((bolagLow as string[])[0]);
    for (const c of [owner.client, staff.client, bolagWall.client]) c.close();
  }, 60_000);

  it("pages a filter's history to its end with a cursor, each match once, and refuses another scope's cursor", async () => {
    const pages = await addBusiness(server, "Pages", "pages1");
    await server.records.sql`
      insert into stores (id, business_id, code, name, language, reward_policy)
      select gen_random_uuid(), ${pages}, 'pages2', 'pages2', 'en-US', reward_policy from stores where code = 'demo'`;
    const other = await addBusiness(server, "Pages Other", "pagesx");
    const SAID = [
      "the fitting rooms had no hooks at all",
      "nobody answered the bell at the pharmacy desk",
      "the escalator to the garage was stopped",
      "my loyalty card was not recognised at the till",
      "the bread shelf was empty by ten",
      "a broken trolley blocked the entrance",
      "the price on the shelf was not the price at the till",
    ];
    for (const [i, said] of SAID.entries()) {
      await conversation(server, i % 2 ? "pages2" : "pages1", pages, said, 20 + i);
      await conversation(server, "pages1", pages, `but the staff were kind, visit ${i}`, 85);
      await conversation(server, "pagesx", other, `another shop's complaint number ${i}`, 15);
    }
    await server.records.flush();
    const owner = await wall(
      server,
      server.dashboardTokens.issue({ userId: "pages-owner", role: "owner", businessId: pages }, 60_000),
    );
    const low = { scoreBand: ScoreBand.LOW };
    const ask = (client: DashboardClient, cursor: string, filter = low, limit = 3) =>
      askFeedback(client, cursor, filter, limit);
    const all = (await ask(owner.client, "", low, 50)).feedback.map((f) => f.sessionId);
    expect(all).toHaveLength(SAID.length);

    // Three at a time, newest first; a low one ends between pages: it is newer than every page, so none repeats.
    const seen: string[] = [];
    const firstPage = await ask(owner.client, "");
    let page = firstPage;
    for (let n = 0; ; n++) {
      expect(n).toBeLessThan(5);
      seen.push(...page.feedback.map((f) => f.sessionId));
      expect(page.feedback.every((f) => f.businessId === pages && (f.finalScore?.score ?? 100) < 40)).toBe(true);
      if (!page.nextCursor) break;
      await conversation(server, "pages1", pages, `something else went wrong, the ${n + 1}th time`, 25);
      await server.records.flush();
      page = await ask(owner.client, page.nextCursor);
    }
    expect(seen).toEqual(all);

    // A cursor is its page's scope and filter only: another business, a staff member of another
    // store, or another filter gets a clear refusal, never a page; nor does a cursor not of ours.
    const refusal = (p: Promise<unknown>) =>
      expect(p).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("cursor") });
    const cursor = firstPage.nextCursor;
    const otherWall = await wall(
      server,
      server.dashboardTokens.issue({ userId: "pages-other", role: "owner", businessId: other }, 60_000),
    );
    await refusal(ask(otherWall.client, cursor));
    const staff = await wall(
      server,
      server.dashboardTokens.issue(
        { userId: "pages-staff", role: "staff", businessId: pages, storeCodes: ["pages2"] },
        60_000,
      ),
    );
    await refusal(ask(staff.client, cursor));
    await refusal(ask(owner.client, cursor, { scoreBand: ScoreBand.HIGH }));
    const farFuture = Buffer.from(`1.${"A".repeat(16)}.${"9".repeat(19)}.${pages}`).toString("base64url");
    for (const bad of ["not-a-cursor", cursor.slice(0, -4), `${cursor}AAAA`, "x".repeat(300), farFuture])
      await refusal(ask(owner.client, bad));
    // The other business's own pages are its own.
    const theirs = await ask(otherWall.client, "", low, 50);
    expect(theirs.feedback.map((f) => f.businessId)).toEqual(Array(SAID.length).fill(other));
    expect(theirs.nextCursor).toBe("");
    for (const c of [owner.client, otherWall.client, staff.client]) c.close();
  }, 90_000);

  it("pages the unfiltered history on from a snapshot's latest to the oldest, each once, in the caller's stores only", async () => {
    const business = await addBusiness(server, "Unfiltered", "whole1");
    await server.records.sql`
      insert into stores (id, business_id, code, name, language, reward_policy)
      select gen_random_uuid(), ${business}, 'whole2', 'whole2', 'en-US', reward_policy from stores where code = 'demo'`;
    const other = await addBusiness(server, "Unfiltered Other", "wholex");
    const ofStore: Record<string, string[]> = { whole1: [], whole2: [] };
    for (let i = 0; i < 5; i++)
      for (const store of ["whole1", "whole2"] as const) {
        const c = await conversation(server, store, business, `the ${store} visit number ${i} was fine`, 50 + i);
        ofStore[store]!.push(c.sessionId);
      }
    await conversation(server, "wholex", other, "another business's visit", 50);
    await server.records.flush();
    const recentThree = { case: "subscribe", value: { recentLimit: 3 } } as const;
    const owner = await wall(
      server,
      server.dashboardTokens.issue({ userId: "whole-owner", role: "owner", businessId: business }, 60_000),
      recentThree,
    );
    const staff = await wall(
      server,
      server.dashboardTokens.issue(
        { userId: "whole-staff", role: "staff", businessId: business, storeCodes: ["whole2"] },
        60_000,
      ),
      recentThree,
    );

    /** From the snapshot's latest three to the oldest, three at a time; a conversation ends at each store between pages. */
    const walk = async ({ client, snapshot }: Awaited<ReturnType<typeof wall>>) => {
      const seen = snapshot.recent.map((f) => f.sessionId);
      let cursor = snapshot.recentNextCursor;
      for (let n = 0; cursor; n++) {
        expect(n).toBeLessThan(5);
        for (const store of ["whole1", "whole2"])
          await conversation(server, store, business, `later ${store} ${n}`, 70);
        await server.records.flush();
        const page = await askFeedback(client, cursor, {}, 3);
        seen.push(...page.feedback.map((f) => f.sessionId));
        cursor = page.nextCursor;
      }
      return seen;
    };
    // Staff: their store's, newest first (the same as its first page asked without a cursor), each once.
    const staffAll = (await askFeedback(staff.client, "", {}, 50)).feedback;
    expect(staffAll.map((f) => f.sessionId).sort()).toEqual([...ofStore.whole2!].sort());
    expect(staff.snapshot.recent.map((f) => f.sessionId)).toEqual(staffAll.slice(0, 3).map((f) => f.sessionId));
    expect(await walk(staff)).toEqual(staffAll.map((f) => f.sessionId));
    // The owner: both stores', none of the other business's, nor any that ended after its snapshot.
    const ownerAll = (await askFeedback(owner.client, "", {}, 50)).feedback.map((f) => f.sessionId);
    const ownerSeen = await walk(owner);
    expect([...ownerSeen].sort()).toEqual([...ofStore.whole1!, ...ofStore.whole2!].sort());
    expect(ownerSeen).toEqual(ownerAll.filter((id) => ownerSeen.includes(id)));

    // The unfiltered cursor is its scope's, without a filter: another scope's wall, or the same wall
    // with a filter, gets a clear refusal; so does a filter's cursor asked without its filter.
    const refusal = (p: Promise<unknown>) =>
      expect(p).rejects.toMatchObject({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringContaining("cursor") });
    const otherWall = await wall(
      server,
      server.dashboardTokens.issue({ userId: "whole-other", role: "owner", businessId: other }, 60_000),
      recentThree,
    );
    await refusal(askFeedback(staff.client, owner.snapshot.recentNextCursor, {}, 3));
    await refusal(askFeedback(owner.client, staff.snapshot.recentNextCursor, {}, 3));
    await refusal(askFeedback(otherWall.client, owner.snapshot.recentNextCursor, {}, 3));
    await refusal(askFeedback(owner.client, owner.snapshot.recentNextCursor, { scoreBand: ScoreBand.MID }, 3));
    const mid = await askFeedback(owner.client, "", { scoreBand: ScoreBand.MID }, 3);
    await refusal(askFeedback(owner.client, mid.nextCursor, {}, 3));
    // The other business's wall holds its one conversation: no older pages.
    expect(otherWall.snapshot.recent.map((f) => f.businessId)).toEqual([other]);
    expect(otherWall.snapshot.recentNextCursor).toBe("");
    for (const c of [owner.client, staff.client, otherWall.client]) c.close();
  }, 90_000);

  it("tells an admin that a business it names does not exist, instead of an empty wall", async () => {
    const token = await login(server, logins.admin);
    for (const businessId of [randomUUID(), demoId.slice(0, -4)]) {
      for (const publicScreen of [false, true]) {
        const client = await DashboardClient.open(server);
        clients.push(client);
        expect((await client.request({ case: "hello", value: { token } })).case).toBe("welcome");
        const refused = await client.request({ case: "subscribe", value: { businessId, publicScreen } });
        expect(refused.case === "error" && refused.value.code).toBe(ErrorCode.NOT_FOUND);
        client.close();
      }
    }
    const known = await wall(server, token, { case: "subscribe", value: { businessId: demoId } });
    expect(known.snapshot.stores.map((s) => s.code)).toContain("demo");
    known.client.close();
  });

  it("refuses /wall/ws to a page of another origin and to a client past its share of sockets", async () => {
    for (const c of clients) c.close();
    await expect.poll(() => server.clientLimits.dashboardSockets.held("127.0.0.1")).toBe(0);
    expect((await handshake(server, "https://evil.example")).status).toBe(403);
    const own = await handshake(server, server.url.replace("127.0.0.1", "localhost"));
    expect(own.status).toBe(403); // another host name is another origin
    const open: (() => void)[] = [];
    for (let i = 0; i < 6; i++) {
      const h = await handshake(server, new URL(server.url).origin);
      expect(h.status).toBe(101);
      open.push(h.close);
    }
    expect((await handshake(server)).status).toBe(429);
    // Dashboards have their own share: a customer's socket is still admitted.
    const customer = await new Promise<number>((resolve) => {
      const url = new URL(server.url);
      const req = http.request({
        host: url.hostname,
        port: url.port,
        path: "/ws",
        headers: {
          connection: "Upgrade",
          upgrade: "websocket",
          "sec-websocket-version": "13",
          "sec-websocket-key": randomBytes(16).toString("base64"),
        },
      });
      req.on("upgrade", (res, socket) => {
        socket.destroy();
        resolve(res.statusCode ?? 0);
      });
      req.on("response", (res) => resolve(res.statusCode ?? 0));
      req.end();
    });
    expect(customer).toBe(101);
    for (const close of open) close();
    // Slots come back when sockets close.
    await expect
      .poll(async () => {
        const h = await handshake(server);
        h.close();
        return h.status;
      })
      .toBe(101);
    const plain = await fetch(`${server.url}/wall/ws`);
    expect(plain.status).toBe(426);
  }, 60_000);
});
