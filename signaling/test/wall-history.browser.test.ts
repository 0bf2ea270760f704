// What the wall shows of the history, in real Chromium on a real node: a
// filter finds conversations older than the snapshot's latest (the store, the
// status "flagged"), while live ones still arrive filtered; a live
// conversation's drill-down draws its whole score so far, also after a
// reconnect; a customer's deletion takes its alerts off every wall; a
// customer's data code finds their conversation; a filter with more matches
// than a page shows older ones, a page at a time, on "Show older", and so
// does a wall without a filter, from its snapshot's latest to the oldest;
// and an admin's wall or public screen of a business that does not exist
// says so.
// The page's socket goes through the test where it must drop it or hold an
// answer (Playwright's routeWebSocket).
import { randomUUID } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { ServerMessageSchema } from "@parley/proto/wall";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { addStore, dashboardToken, demoBusiness, ownerToken, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";

let server: ParleyServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
  await addStore(server, "third");
  await addStore(server, "scores");
  await addStore(server, "gone");
  await addStore(server, "older");
  await addStore(server, "paged");
  await addStore(server, "unpaged");
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const token = (role: "owner" | "admin") => dashboardToken(server, role, "history");

async function open(page: Page, query: string, t: string): Promise<void> {
  await page.goto(`${server.url}/dashboard/?lang=en${query}#token=${t}`);
}
const live = (page: Page) =>
  page.getByTestId("connection").and(page.locator(".conn.live")).waitFor({ timeout: 15_000 });

const card = (page: Page, sessionId: string) => page.locator(`[data-testid="card"][data-session="${sessionId}"]`);

/**
 * Finished conversations written straight into records (as if they had
 * happened `minutesAgo`), `flagged` ones with a fraud rule: a history larger
 * than a snapshot's, in a moment. Their ids, newest first.
 */
async function finishedInRecords(storeCode: string, n: number, minutesAgo: number, flagged = false): Promise<string[]> {
  const sql = server.records.sql;
  const [store] = await sql<{ id: string; business_id: string }[]>`
    select id, business_id from stores where code = ${storeCode}`;
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    ids.push(id);
    const ended = new Date(Date.now() - (minutesAgo * 60 + i) * 1000);
    const started = new Date(ended.getTime() - 40_000);
    await sql`
      insert into sessions (id, store_id, business_id, status, consent_given_at, consent_version,
                            started_at, ended_at, end_reason, language)
      values (${id}, ${store!.id}, ${store!.business_id}, 'ended', ${started}, 'test',
              ${started}, ${ended}, 'CUSTOMER', 'en-US')`;
    await sql`
      insert into final_scores (session_id, score, specificity, actionability, sentiment, relevance, topics, summary, engine)
      values (${id}, 60, 0.5, 0.5, 0.3, 0.9, ${["service"]}, 'summary', 'test')`;
    await sql`
      insert into transcript_segments (session_id, segment_id, seq, text, words, start_ms, end_ms, speech_final)
      values (${id}, 1, 1, ${`feedback ${i} about ${storeCode}`}, '[]'::jsonb, 0, 3000, true)`;
    if (flagged)
      await sql`
        insert into fraud_flags (session_id, rule, severity, detail)
        values (${id}, 'duplicate_receipt', 'fraud', '{}'::jsonb)`;
  }
  return ids;
}

/** A conversation of a store, begun in the records (as the node begins one) and published on the bus. */
async function begun(storeCode: string, n: number): Promise<FakeConversation & { dataCode: string }> {
  const c = new FakeConversation(server.bus, storeCode, demoBusiness(server), server.config.nodeId);
  const { dataCode } = await server.records.beginSession({
    sessionId: c.sessionId,
    storeCode,
    consent: { given: true, version: "test" },
    deviceId: `wall-history-${n}`,
    ip: `10.9.0.${n}`,
    receipt: `WALL-HISTORY-${n}`,
  });
  return Object.assign(c, { dataCode });
}

describe("the wall's history in a real browser", () => {
  it("finds a filter's conversations however many came after them, and still filters live ones", async () => {
    // Two hours ago at the third store (one flagged), then more than a snapshot holds at the demo store.
    const third = await finishedInRecords("third", 2, 120);
    const [flagged] = await finishedInRecords("third", 1, 121, true);
    await finishedInRecords("demo", 110, 10);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await open(page, "", token("owner"));
    await live(page);
    await expect.poll(() => page.getByTestId("card").count()).toBeGreaterThanOrEqual(100);
    expect(await page.locator('[data-testid="card"][data-store="third"]').count()).toBe(0);

    const filters = page.getByTestId("filters").locator("select");
    await filters.nth(0).selectOption("third");
    for (const id of [...third, flagged!]) await card(page, id).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="card"]:not([data-store="third"])').count()).toBe(0);
    expect(await page.getByTestId("ticker").getByText("No conversations yet").count()).toBe(0);

    // Live conversations keep arriving, filtered as before: the third store's shows, the demo store's not.
    const talking = (await begun("third", 1)).start();
    const elsewhere = (await begun("demo", 2)).start();
    talking.segment(1, "the third store's queue was short", true);
    elsewhere.segment(1, "the demo store's queue was long", true);
    await card(page, talking.sessionId).and(page.locator('[data-status="live"]')).waitFor({ timeout: 15_000 });
    expect(await card(page, elsewhere.sessionId).count()).toBe(0);

    // Every store, flagged only: the flagged one, older than the latest hundred, is there.
    await filters.nth(0).selectOption("");
    await filters.nth(5).selectOption("flagged");
    await card(page, flagged!).and(page.locator('[data-status="flagged"]')).waitFor({ timeout: 15_000 });
    expect(await page.locator('[data-testid="card"]:not([data-status="flagged"])').count()).toBe(0);
    talking.end({ score: 60 });
    elsewhere.end({ score: 60 });
    await page.close();
  }, 120_000);

  it("draws a live conversation's whole score so far in its drill-down, opened late and after a reconnect", async () => {
    const c = await begun("scores", 3);
    const t0 = Date.now() - 60_000;
    c.start(t0);
    c.segment(1, "the tills in the scores store were all open", true, t0 + 1_000);
    for (let i = 0; i < 6; i++) c.score(20 + 5 * i, { through: 1 }, t0 + 5_000 * (i + 1));
    await server.records.flush();

    // The page's socket through the test: it drops the first, and may hold the next one's snapshot.
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const drops: (() => Promise<void>)[] = [];
    let snapshotsHeld: Promise<void> = Promise.resolve();
    await page.routeWebSocket(/\/wall\/ws$/, (ws) => {
      const node = ws.connectToServer();
      let order = Promise.resolve();
      node.onMessage((data) => {
        const m = fromBinary(ServerMessageSchema, new Uint8Array(data as Buffer));
        const held = m.kind.case === "response" && m.kind.value.result.case === "snapshot" ? snapshotsHeld : undefined;
        order = order.then(async () => {
          await held;
          ws.send(data);
        });
      });
      drops.push(async () => {
        await ws.close({ code: 4000, reason: "test: a network blip" }).catch(() => {});
        await node.close().catch(() => {});
      });
    });
    await open(page, "&store=scores", token("owner"));
    await live(page);
    await card(page, c.sessionId).getByTestId("open").click();
    const chart = page.getByTestId("drill").getByTestId("drill-chart");
    const points = async () => Number(await chart.getAttribute("data-points"));
    // The snapshot had the latest score only; the history has all six.
    await expect.poll(points, { timeout: 15_000 }).toBe(6);
    c.score(50, { through: 1 });
    await expect.poll(points).toBe(7);

    // The wall is away while two more scores come (records keeps them); it comes back to a snapshot.
    let release!: () => void;
    snapshotsHeld = new Promise((resolve) => {
      release = resolve;
    });
    await drops[0]!();
    c.score(55, { through: 1 });
    c.score(60, { through: 1 });
    await server.records.flush();
    release();
    await live(page);
    await expect.poll(points, { timeout: 15_000 }).toBe(9);
    expect(drops.length).toBe(2);
    c.end({ score: 62 });
    await page.close();
  }, 90_000);

  it("takes a deleted conversation's alerts off the open walls and out of every later snapshot", async () => {
    const c = await begun("gone", 4);
    c.start();
    c.segment(1, "the changing rooms were dirty and nobody came to help me at all", true);
    c.score(7, { through: 1, sentiment: -0.2 });
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await open(page, "&store=gone", token("owner"));
    await live(page);
    const alert = page.locator(`[data-testid="alert"][data-session="${c.sessionId}"]`);
    await alert.filter({ hasText: "Low score (7)" }).waitFor({ timeout: 15_000 });
    c.end({ score: 8, relevance: 0.9, topics: ["cleanliness"] });
    await server.records.flush();

    const deleted = await fetch(`${server.url}/api/customer/sessions/${c.sessionId}?forfeitReward=true`, {
      method: "DELETE",
      headers: { "x-parley-data-code": c.dataCode },
    });
    expect(deleted.status).toBe(200);
    await card(page, c.sessionId).waitFor({ state: "detached", timeout: 15_000 });
    await alert.waitFor({ state: "detached", timeout: 15_000 });
    // A wall loaded afterwards: the node's alerts no longer have it.
    await page.reload();
    await live(page);
    await page.getByTestId("ticker").waitFor();
    expect(await alert.count()).toBe(0);
    expect(await page.getByTestId("alert").count()).toBe(0);
    await page.close();
  }, 60_000);

  it("finds a conversation by its customer's data code and opens it, and says so when the code is not its", async () => {
    const c = await begun("third", 5);
    c.start();
    c.segment(1, "the payment to my account failed after the reward was granted", true);
    c.end({ score: 71, relevance: 0.9, topics: ["payment"] });
    await server.records.flush();
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // A real login's token: each search is audited under the user who made it.
    await open(page, "", await ownerToken(server));
    await live(page);
    await page.getByTestId("find-code").fill("ZZZZ-ZZZZ-ZZZZ");
    await page.getByTestId("find-submit").click();
    await page.locator('[data-testid="find-problem"][data-kind="unknown"]').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("drill").count()).toBe(0);
    // As the customer reads it out: lower case, spaces for dashes.
    await page.getByTestId("find-code").fill(c.dataCode.toLowerCase().replace(/-/g, " "));
    await page.getByTestId("find-submit").click();
    await page.getByTestId("drill-transcript").filter({ hasText: "the payment to my account failed" }).waitFor({
      timeout: 15_000,
    });
    expect(await page.getByTestId("find-problem").count()).toBe(0);
    await page.close();
  }, 60_000);

  it("shows a filter's older matches a page at a time on Show older, each once, and starts again when the filter changes", async () => {
    // More matches than a page of the filter's history (100), half an hour ago.
    const older = await finishedInRecords("older", 130, 30);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await open(page, "", token("owner"));
    await live(page);
    const filters = page.getByTestId("filters").locator("select");
    const showOlder = page.getByTestId("show-older");
    const ofStore = page.locator('[data-testid="card"][data-store="older"]');
    await filters.nth(0).selectOption("older");
    await filters.nth(1).selectOption("week");
    // The latest hundred, and the control that asks for the rest.
    await card(page, older[99]!).waitFor({ timeout: 15_000 });
    await showOlder.waitFor({ timeout: 15_000 });
    expect(await ofStore.count()).toBe(100);
    expect(await card(page, older[100]!).count()).toBe(0);

    // A conversation of the store ends before the next page is asked for: it shows, and no card twice.
    const arrived = (await begun("older", 6)).start();
    arrived.segment(1, "the older store's lift was out of order", true);
    arrived.end({ score: 60, relevance: 0.9, topics: ["service"] });
    await card(page, arrived.sessionId).waitFor({ timeout: 15_000 });
    await showOlder.click();
    await card(page, older[129]!).waitFor({ timeout: 15_000 });
    expect(await ofStore.count()).toBe(131);
    const shown = await ofStore.evaluateAll((cards) => cards.map((c) => c.getAttribute("data-session")));
    expect(new Set(shown).size).toBe(131);
    // That was the last page: no more to ask for.
    await showOlder.waitFor({ state: "detached", timeout: 15_000 });
    expect(await page.getByTestId("older-problem").count()).toBe(0);

    // Another filter starts from its own latest: low scores of the store are none (no more to ask for);
    // back to every score, the first page again, and the control for the rest.
    await filters.nth(2).selectOption("low");
    await page.locator('[data-testid="ticker"][data-searching="0"]').waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("card").count()).toBe(0);
    expect(await showOlder.count()).toBe(0);
    await filters.nth(2).selectOption("all");
    await showOlder.waitFor({ timeout: 15_000 });
    await page.close();
  }, 120_000);

  it("shows older conversations without a filter a page at a time on Show older, to the oldest, of the staff's store only", async () => {
    // More than the snapshot's hundred and the wall's card cap (300), and another store's in between.
    const paged = await finishedInRecords("paged", 330, 20);
    await finishedInRecords("unpaged", 20, 21);
    const staff = server.dashboardTokens.issue(
      { userId: "staff-history", role: "staff", businessId: demoBusiness(server), storeCodes: ["paged"] },
      600_000,
    );
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // A kiosk has no controls: no "Show older" either.
    await open(page, "&kiosk=1", staff);
    await live(page);
    await card(page, paged[0]!).waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("show-older").count()).toBe(0);

    await open(page, "", staff);
    await live(page);
    const showOlder = page.getByTestId("show-older");
    const cards = page.getByTestId("card");
    // The snapshot's latest hundred, and the control that asks for the rest.
    await card(page, paged[99]!).waitFor({ timeout: 15_000 });
    await showOlder.waitFor({ timeout: 15_000 });
    expect(await cards.count()).toBe(100);

    await showOlder.click();
    await card(page, paged[199]!).waitFor({ timeout: 15_000 });
    // A conversation of the store ends before the next page is asked for: it shows, and no card twice.
    const arrived = (await begun("paged", 7)).start();
    arrived.segment(1, "the paged store's doors were stuck", true);
    arrived.end({ score: 60, relevance: 0.9, topics: ["service"] });
    await card(page, arrived.sessionId).waitFor({ timeout: 15_000 });
    for (let shown = 300; shown <= 330; shown += 30) {
      await page.locator('[data-testid="show-older"]:not([disabled])').click();
      await card(page, paged[shown - 1]!).waitFor({ timeout: 15_000 });
    }
    // That was the oldest: no more to ask for; every card kept beyond the cap, each once, the store's only.
    await showOlder.waitFor({ state: "detached", timeout: 15_000 });
    const sessions = await cards.evaluateAll((all) => all.map((c) => c.getAttribute("data-session")));
    expect(sessions).toEqual([arrived.sessionId, ...paged]);
    expect(await page.locator('[data-testid="card"]:not([data-store="paged"])').count()).toBe(0);
    expect(await page.getByTestId("older-problem").count()).toBe(0);
    await page.close();
  }, 120_000);

  it("says that an admin's wall or public screen of a business that does not exist cannot be shown", async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const unknown = randomUUID();
    const truncated = demoBusiness(server).slice(0, -3);
    for (const query of [`&business=${unknown}`, `&business=${truncated}`, `&public=1&kiosk=1&business=${unknown}`]) {
      await open(page, query, token("admin"));
      const business = query.includes(unknown) ? unknown : truncated;
      await page
        .getByTestId("scope-problem")
        .filter({ hasText: `cannot show business ${business}` })
        .waitFor({ timeout: 15_000 });
      expect(await page.getByTestId("moderation-settings").count()).toBe(0);
    }
    // A business that exists: its wall, with its moderation settings.
    await open(page, `&business=${demoBusiness(server)}`, token("admin"));
    await live(page);
    await page.getByTestId("moderation-settings").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("scope-problem").count()).toBe(0);
    await page.close();
  }, 60_000);
});
