// The per-dashboard backpressure policy on a real node and real sockets: a
// burst of live events (large partials, finals, scores) reaches a dashboard
// that reads, one that stops reading for a while, and one that never reads
// again. Asserted: what was delivered, not how fast.
import { DashboardClient } from "@parley/loadtest";
import { ErrorCode } from "@parley/proto/errors";
import type { LiveEnvelope } from "@parley/proto/live";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";

let server: ParleyServer;

beforeAll(async () => {
  server = await startServer({
    WALL_CLIENT_SOFT_LIMIT_BYTES: String(16 * 1024),
    WALL_CLIENT_DROP_PARTIALS_BYTES: String(64 * 1024),
    WALL_CLIENT_CLOSE_BYTES: String(512 * 1024),
  });
}, 60_000);
afterAll(async () => {
  await server?.close();
});

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
const essentials = (live: LiveEnvelope[]) =>
  live.filter((e) => {
    const k = e.event?.kind;
    return k?.case !== "transcript" || k.value.isFinal;
  });
const partials = (live: LiveEnvelope[]) => live.length - essentials(live).length;

async function closedByPolicy(): Promise<number> {
  const metric = (await register.getSingleMetric("wall_clients_closed_total")?.get())?.values ?? [];
  return metric.reduce((n, v) => n + v.value, 0);
}

describe("a dashboard that cannot keep up", () => {
  it("never stops delivery to the others; gets finals while it reads; is closed when it stalls", async () => {
    const token = server.dashboardTokens.issue(
      { userId: "owner", role: "owner", businessId: demoBusiness(server) },
      600_000,
    );
    const healthy = (await DashboardClient.subscribed(server, token)).client;
    const slow = (await DashboardClient.subscribed(server, token)).client;
    const stalled = (await DashboardClient.subscribed(server, token)).client;
    expect(server.wall.hub.clients).toBe(3);
    const closedBefore = await closedByPolicy();
    slow.ws.pause();
    stalled.ws.pause();

    const conversation = new FakeConversation(server.bus, "demo", demoBusiness(server)).start();
    const EVENTS = 6000;
    const published = { partials: 0, finals: 0, scores: 0 };
    for (let i = 0; i < EVENTS; i++) {
      const segment = Math.floor(i / 10);
      if (i % 10 === 9) {
        conversation.segment(segment, `final ${segment} ${"f".repeat(2000)}`, true);
        published.finals++;
      } else {
        conversation.segment(segment, `partial ${i} ${"p".repeat(2000)}`, false);
        published.partials++;
      }
      if (i % 50 === 49) {
        conversation.score(i % 100, { through: segment });
        published.scores++;
      }
      if (i === EVENTS / 2) slow.ws.resume(); // it stopped reading for the first half only
      if (i % 25 === 0) await tick(); // a real conversation's pace, compressed: other sockets get read
    }
    conversation.end({ score: 42 });
    const ended = (m: DashboardClient) =>
      m.waitFor((x) => x.kind.case === "live" && x.kind.value.event?.kind.case === "conversationEnded", 60_000);
    await Promise.all([ended(healthy), ended(slow)]);

    for (const client of [healthy, slow]) {
      const live = client.live();
      const seqs = live.map((e) => Number(e.seq));
      // In order, nothing twice.
      expect(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!)).toBe(true);
      // Every final, score and the end: delivered.
      const got = essentials(live);
      expect(got.filter((e) => e.event?.kind.case === "transcript")).toHaveLength(published.finals);
      expect(got.filter((e) => e.event?.kind.case === "score")).toHaveLength(published.scores);
      expect(got.filter((e) => e.event?.kind.case === "conversationEnded")).toHaveLength(1);
      expect(client.closed).toBeUndefined();
    }
    // The slow one was spared partials it could not have read in time, and was told so.
    expect(partials(slow.live())).toBeLessThan(published.partials);
    const dropped = slow.messages.flatMap((m) => (m.kind.case === "partialsDropped" ? [m.kind.value.count] : []));
    expect(dropped.reduce((a, b) => a + b, 0) + partials(slow.live())).toBeLessThanOrEqual(published.partials);
    console.log(
      `partials published ${published.partials}; healthy got ${partials(healthy.live())}, slow got ${partials(slow.live())} (told of ${dropped.reduce((a, b) => a + b, 0)} dropped)`,
    );

    // The one that never read again: closed by the node, which holds nothing more for it.
    const deadline = Date.now() + 30_000;
    while (server.wall.hub.clients > 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(server.wall.hub.clients).toBe(2);
    expect(await closedByPolicy()).toBeGreaterThan(closedBefore);

    // Delivery goes on for the others after it.
    const after = new FakeConversation(server.bus, "demo", demoBusiness(server)).start();
    after.end({ score: 1 });
    for (const client of [healthy, slow])
      await client.waitFor(
        (m) =>
          m.kind.case === "live" &&
          m.kind.value.sessionId === after.sessionId &&
          m.kind.value.event?.kind.case === "conversationEnded",
      );
    for (const client of [healthy, slow, stalled]) client.close();
  }, 120_000);

  it("answers a ping with a pong, before hello too, and keeps the connection", async () => {
    const client = await DashboardClient.open(server);
    expect((await client.request({ case: "ping", value: {} })).case).toBe("pong");
    const token = server.dashboardTokens.issue({ userId: "x", role: "admin" }, 60_000);
    expect((await client.request({ case: "hello", value: { token } })).case).toBe("welcome");
    expect((await client.request({ case: "ping", value: {} })).case).toBe("pong");
    client.close();
  });

  it("answers a bad token with UNAUTHENTICATED, then closes the connection", async () => {
    const client = await DashboardClient.open(server);
    const token = server.dashboardTokens.issue({ userId: "x", role: "admin" }, 60_000);
    const forged = `${token.slice(0, -2)}${token.endsWith("AA") ? "BB" : "AA"}`; // another signature
    const refused = await client.request({ case: "hello", value: { token: forged } });
    expect(refused.case === "error" && refused.value.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await client.waitClosed()).code).toBe(4001);
    const early = await DashboardClient.open(server);
    const denied = await early.request({ case: "subscribe", value: {} });
    expect(denied.case === "error" && denied.value.code).toBe(ErrorCode.UNAUTHENTICATED);
    expect((await early.waitClosed()).code).toBe(4001);
  });
});
