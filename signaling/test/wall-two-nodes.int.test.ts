// The wall across nodes: a business's wall connected to node B shows, live
// and in order, the conversation node A handles (through one real Redis),
// and a wall connecting to B mid-conversation gets it in its snapshot. Both
// nodes raise an alert for their own walls but only one e-mails it (through
// SendGridTestDouble, a local test double of SendGrid's API), and it is kept
// once, under one id on both nodes; a person's
// moderation decision on node A reaches node B's walls and public screens,
// and a customer's deletion through node A makes node B forget the conversation.
import { DashboardClient } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import { AlertKind, ModerationStatus, type ServerMessage } from "@parley/proto/wall";
import { createDatabaseAt } from "@parley/records/testing";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, demoBusiness, startServer, TestSocket } from "./harness.ts";
import { RedisServer } from "./redis-server.ts";
import { SendGridTestDouble } from "./sendgrid-test-double.ts";
import { FakeConversation } from "./wall/events.ts";

let redis: RedisServer;
let sendgrid: SendGridTestDouble;
let nodeA: ParleyServer;
let nodeB: ParleyServer;
const clients: DashboardClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
  sendgrid = await SendGridTestDouble.start("SG.two-nodes");
  // Two nodes of one deployment: one Redis, one database, one SendGrid account.
  const DATABASE_URL = await createDatabaseAt(inject("parleyPostgresUrl"));
  const email = { SENDGRID_API_KEY: "SG.two-nodes", SENDGRID_API_URL: sendgrid.url, ALERT_EMAIL_TO: "ops@kafe.se" };
  nodeA = await startServer({ REDIS_URL: redis.url, NODE_ID: "node-a", DATABASE_URL, ...email });
  nodeB = await startServer({
    REDIS_URL: redis.url,
    NODE_ID: "node-b",
    DATABASE_URL,
    ASR_WORKERS: nodeA.embeddedAsr!.address,
    ...email,
  });
});
afterAll(async () => {
  for (const c of clients) c.close();
  await nodeB?.close();
  await nodeA?.close();
  await redis?.stop();
  await sendgrid?.stop();
});

async function wall(node: ParleyServer, publicScreen = false) {
  const token = node.dashboardTokens.issue({ userId: "o", role: "owner", businessId: demoBusiness(nodeA) }, 60_000);
  const opened = await DashboardClient.subscribed(node, token, { case: "subscribe", value: { publicScreen } });
  clients.push(opened.client);
  return opened.client;
}

let receipts = 0;
/** A conversation of node A, published on its bus as its sessions publish (records keeps it). */
async function conversationOnA(): Promise<FakeConversation & { dataCode: string }> {
  const c = new FakeConversation(nodeA.bus, "demo", demoBusiness(nodeA), "node-a");
  const { dataCode } = await nodeA.records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "test" },
    deviceId: `two-nodes-${++receipts}`,
    ip: `10.3.0.${receipts}`,
    receipt: `TWO-NODES-${receipts}`,
  });
  return Object.assign(c.start(), { dataCode });
}

describe("the wall across nodes", () => {
  it("shows node A's conversation on node B's wall, and in node B's snapshots", async () => {
    const token = nodeB.dashboardTokens.issue({ userId: "o", role: "owner", businessId: demoBusiness(nodeA) }, 60_000);
    const early = (await DashboardClient.subscribed(nodeB, token)).client;
    await new Promise((r) => setTimeout(r, 300)); // node B's stream reader is attached

    const { token: sessionToken, sessionId } = await createSession(nodeA);
    const socket = await TestSocket.open(nodeA);
    expect((await socket.request({ case: "join", value: { token: sessionToken } })).case).toBe("joined");
    await early.waitFor((m) => m.kind.case === "live" && m.kind.value.sessionId === sessionId, 15_000);

    // Mid-conversation on node B: the snapshot has it, from node A.
    const late = await DashboardClient.subscribed(nodeB, token);
    const mine = late.snapshot.live.filter((e) => e.sessionId === sessionId);
    expect(mine[0]?.event?.kind.case).toBe("sessionStarted");
    expect(mine[0]?.nodeId).toBe("node-a");

    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    socket.close();
    await early.waitFor(
      (m) =>
        m.kind.case === "live" &&
        m.kind.value.sessionId === sessionId &&
        m.kind.value.event?.kind.case === "conversationEnded",
      15_000,
    );
    const seqs = early
      .live()
      .filter((e) => e.sessionId === sessionId)
      .map((e) => Number(e.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    // Ending it is node A's to do: node B says where it runs (when it still runs).
    const admin = nodeB.dashboardTokens.issue({ userId: "a", role: "admin" }, 60_000);
    const monitor = await DashboardClient.subscribed(nodeB, admin);
    const refused = await monitor.client.request({ case: "endSession", value: { sessionId } });
    expect(refused.case).toBe("error");
    for (const c of [early, late.client, monitor.client]) c.close();
  });
});

describe("the wall's alerts and moderation across nodes", () => {
  it("raises an alert on both nodes' walls and e-mails it once", async () => {
    const [wallA, wallB] = [await wall(nodeA), await wall(nodeB)];
    const c = await conversationOnA();
    c.segment(1, "the staff ignored me and the coffee was cold again", true);
    c.score(12, { through: 1 });
    const lowScore = (m: ServerMessage) =>
      m.kind.case === "alert" && m.kind.value.sessionId === c.sessionId && m.kind.value.kind === AlertKind.LOW_SCORE;
    const idOf = (m: ServerMessage) => (m.kind.case === "alert" ? m.kind.value.id : "");
    const onA = idOf(await wallA.waitFor(lowScore, 15_000));
    const onB = idOf(await wallB.waitFor(lowScore, 15_000));
    await Promise.all([nodeA.wall.alerts.settled(), nodeB.wall.alerts.settled()]);
    const mails = sendgrid.sent.filter((m) => m.text.includes(c.sessionId));
    expect(mails).toHaveLength(1);
    expect(mails[0]!.to).toContain("ops@kafe.se");
    // Both nodes kept it: one row, under the id both walls were sent; later dashboards on either node see it once.
    expect(onB).toBe(onA);
    const kept = await nodeA.records.sql<{ id: string }[]>`
      select id from wall_alerts where session_id = ${c.sessionId} and kind = 'LOW_SCORE'`;
    expect(kept.map((r) => r.id)).toEqual([onA]);
    for (const node of [nodeA, nodeB]) {
      const token = node.dashboardTokens.issue({ userId: "o", role: "owner", businessId: demoBusiness(nodeA) }, 60_000);
      const later = await DashboardClient.subscribed(node, token);
      clients.push(later.client);
      const shown = later.snapshot.alerts.filter((a) => a.sessionId === c.sessionId && a.kind === AlertKind.LOW_SCORE);
      expect(shown.map((a) => a.id)).toEqual([onA]);
    }
  });

  it("shows a person's decision on node A to node B's wall and public screen", async () => {
    const c = await conversationOnA();
    c.segment(1, "lovely cinnamon buns and a friendly barista", true);
    c.end({ score: 85, relevance: 0.9, topics: ["product_quality"] });
    await nodeA.records.flush();
    const [wallA, wallB, screenB] = [await wall(nodeA), await wall(nodeB), await wall(nodeB, true)];

    const decide = async (status: ModerationStatus) =>
      expect((await wallA.request({ case: "moderate", value: { sessionId: c.sessionId, status } })).case).toBe("done");
    const decided = (status: ModerationStatus) => (m: ServerMessage) =>
      m.kind.case === "moderation" &&
      m.kind.value.states.some((s) => s.sessionId === c.sessionId && s.status === status);

    await decide(ModerationStatus.APPROVED);
    await wallB.waitFor(decided(ModerationStatus.APPROVED), 15_000);
    const shown = await screenB.waitFor(
      (m) => m.kind.case === "publicFeedback" && m.kind.value.sessionId === c.sessionId,
      15_000,
    );
    expect(shown.kind.value).toMatchObject({ text: "lovely cinnamon buns and a friendly barista" });

    await decide(ModerationStatus.HIDDEN);
    await wallB.waitFor(decided(ModerationStatus.HIDDEN), 15_000);
    await screenB.waitFor((m) => m.kind.case === "publicWithdrawn" && m.kind.value.sessionId === c.sessionId, 15_000);

    const settings = { autoApproveAbove: 0, redactedPhrases: ["barista"] };
    expect((await wallA.request({ case: "setModerationSettings", value: { settings } })).case).toBe("done");
    const changed = await wallB.waitFor(
      (m) => m.kind.case === "moderation" && m.kind.value.settings?.redactedPhrases[0] === "barista",
      15_000,
    );
    expect(changed.kind.value).toMatchObject({ businessId: demoBusiness(nodeA), settings });
    // The deciding node's own walls heard each decision once (not again from Redis), public screens nothing live.
    expect(wallA.messages.filter(decided(ModerationStatus.APPROVED))).toHaveLength(1);
    expect(screenB.live()).toEqual([]);
  });

  it("forgets a conversation on node B when its customer deletes it through node A", async () => {
    const c = await conversationOnA();
    c.segment(1, "the queue at the till was far too long", true);
    c.end({ score: 40, relevance: 0.9, topics: ["wait_time"] });
    await nodeA.records.flush();
    const wallB = await wall(nodeB);
    const open = { case: "getConversation" as const, value: { sessionId: c.sessionId } };
    await expect.poll(() => nodeB.wall.hub.live.get(c.sessionId)?.ended, { timeout: 15_000 }).toBe(true);
    expect((await wallB.request(open)).case).toBe("conversation");

    const deleted = await fetch(`${nodeA.url}/api/customer/sessions/${c.sessionId}?forfeitReward=true`, {
      method: "DELETE",
      headers: { "x-parley-data-code": c.dataCode },
    });
    expect(deleted.status).toBe(200);
    await wallB.waitFor((m) => m.kind.case === "conversationDeleted" && m.kind.value.sessionId === c.sessionId, 15_000);
    expect(nodeB.wall.hub.live.get(c.sessionId)).toBeUndefined();
    const reopened = await wallB.request(open);
    expect(reopened.case === "error" && reopened.value.code).toBe(ErrorCode.NOT_FOUND);
  });
});
