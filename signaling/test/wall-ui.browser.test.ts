// The wall's own behaviour in real Chromium, over synthetic conversations on
// a real node: a drill-down opened at a conversation's start shows all of it
// once it ends; a wall left open (a kiosk) stops showing a conversation live
// once it has been silent longer than the node keeps it (its node died: no
// end will come); a refused moderation click says so on its card; and what
// the node refuses is said in the viewer's language, never in the node's
// English. The page's socket goes through the test where the test must
// replace an answer (Playwright's routeWebSocket); the page's clock is
// Playwright's where an hour must pass.
import { ErrorCode } from "@parley/proto/ws";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { addStore, dashboardToken, demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";
import { errorAnswer, relayWall } from "./wallRelay.ts";

let server: ParleyServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
  await addStore(server, "ghost");
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const token = (role: "owner" | "admin") => dashboardToken(server, role, "ui");

async function open(page: Page, view: "" | "monitor", query: string, t: string, lang = "en"): Promise<void> {
  await page.goto(`${server.url}/dashboard/${view}?lang=${lang}${query}#token=${t}`);
  await page.getByTestId("connection").and(page.locator(".conn.live")).waitFor({ timeout: 15_000 });
}

const card = (page: Page, sessionId: string) => page.locator(`[data-testid="card"][data-session="${sessionId}"]`);

/** A conversation of a store, begun in the records (as the node begins one) and published on the bus. */
async function begun(storeCode: string, n: number): Promise<FakeConversation> {
  const c = new FakeConversation(server.bus, storeCode, demoBusiness(server), server.config.nodeId);
  await server.records.beginSession({
    sessionId: c.sessionId,
    storeCode,
    consent: { given: true, version: "test" },
    deviceId: `wall-ui-${n}`,
    ip: `10.6.0.${n}`,
    receipt: `WALL-UI-${n}`,
  });
  return c;
}

describe("the wall in a real browser", () => {
  it("shows all of a conversation opened at its start once it ends, not the copy fetched when it was opened", async () => {
    const c = await begun("demo", 1);
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const asked = new Set<number>();
    let answered!: () => void;
    const firstAnswer = new Promise<void>((resolve) => {
      answered = resolve;
    });
    await relayWall(page, {
      request: (m) => {
        if (m.kind.case === "getConversation" && m.kind.value.sessionId === c.sessionId) asked.add(m.requestId);
        return undefined;
      },
      reply: (m) => {
        if (m.kind.case === "response" && asked.has(m.kind.value.requestId)) answered();
        return undefined;
      },
    });
    await open(page, "", "", token("owner"));
    c.start();
    await card(page, c.sessionId).and(page.locator('[data-status="live"]')).waitFor({ timeout: 15_000 });
    await card(page, c.sessionId).getByTestId("open").click();
    // The node's copy, taken before anything was said, reached the page before what follows (one socket, in order).
    await firstAnswer;

    c.segment(1, "the fitting rooms were spotless", true);
    c.publish({
      kind: { case: "aiTurn", value: { sessionId: c.sessionId, turn: 1, text: "What made them stand out?" } },
    });
    c.score(70, { topics: ["cleanliness"], sentiment: 0.6, through: 1 });
    c.end({ score: 78, topics: ["cleanliness"], sentiment: 0.6, relevance: 0.9 });

    const drill = page.getByTestId("drill");
    await drill.getByText("Ended: the customer was done").waitFor({ timeout: 15_000 });
    await expect
      .poll(() => drill.getByTestId("drill-transcript").textContent(), { timeout: 15_000 })
      .toContain("the fitting rooms were spotless");
    await drill.locator(".questions").filter({ hasText: "What made them stand out?" }).waitFor({ timeout: 15_000 });
    await page.close();
  }, 60_000);

  it("stops showing a conversation live on a kiosk left open once it has been silent for longer than the node keeps it", async () => {
    const context = await browser.newContext({ viewport: { width: 1920, height: 1080 } });
    const page = await context.newPage();
    await page.clock.install(); // the page's clock, which the test moves on; the node's runs as it does
    await open(page, "", "&kiosk=1&store=ghost", token("owner"));
    const c = (await begun("ghost", 2)).start();
    c.segment(1, "the queue at the till was", false);
    const liveNow = () => page.getByTestId("tile-live").locator(".value").textContent();
    await card(page, c.sessionId).and(page.locator('[data-status="live"]')).waitFor({ timeout: 15_000 });
    await expect.poll(liveNow).toBe("1");

    // Its node dies: no end is published. An hour and a minute pass on the wall.
    await page.clock.fastForward(61 * 60_000);
    await card(page, c.sessionId).and(page.locator('[data-status="ended"]')).waitFor({ timeout: 15_000 });
    await expect.poll(liveNow).toBe("0");
    c.end({ score: 40 });
    await context.close();
  }, 60_000);

  it("says on the card, in the viewer's language, when the node refuses a moderation click", async () => {
    const c = await begun("demo", 3);
    c.start();
    c.segment(1, "the staff were rude at the till", true);
    c.end({ score: 20, topics: ["service"], sentiment: -0.8, relevance: 0.9 });
    await server.records.flush();

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    // The node's rate limit, as the page meets it: the click never reaches the node.
    let refuse = true;
    await relayWall(page, {
      request: (m) =>
        refuse && m.kind.case === "moderate"
          ? errorAnswer(m.requestId, ErrorCode.RATE_LIMITED, "too many requests: slow down")
          : undefined,
    });
    await open(page, "", "", token("owner"), "sv");
    const item = card(page, c.sessionId);
    const refused = item.getByRole("alert");
    await item.getByRole("button", { name: "Dölj" }).click();
    await refused.waitFor({ timeout: 15_000 });
    expect(await refused.textContent()).toBe(
      "Inte ändrat: för många förfrågningar på en gång, vänta en stund och försök igen",
    );
    expect(await item.getByTestId("moderation").textContent()).toContain("Väntar");

    // Once the node takes it, the card says hidden and the problem is gone.
    refuse = false;
    await item.getByRole("button", { name: "Dölj" }).click();
    await item.getByTestId("moderation").filter({ hasText: "Dold" }).waitFor({ timeout: 15_000 });
    expect(await refused.count()).toBe(0);
    await page.close();
  }, 60_000);

  it("says what the node refused in Swedish, not in the node's English: moderation settings and the monitor", async () => {
    const wall = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await open(wall, "", "", token("owner"), "sv");
    const settings = wall.getByTestId("moderation-settings");
    await settings.getByTestId("redacted-phrases").fill("x".repeat(101)); // over the node's limit
    await settings.getByRole("button", { name: "Spara" }).click();
    const notSaved = settings.getByTestId("moderation-problem");
    await notSaved.waitFor({ timeout: 15_000 });
    expect(await notSaved.textContent()).toBe("Inte sparat: servern godtog inte det som angavs");
    await wall.close();

    const monitor = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await relayWall(monitor, {
      request: (m) =>
        m.kind.case === "watchMonitor"
          ? errorAnswer(m.requestId, ErrorCode.UNAVAILABLE, "monitor unavailable on this node")
          : undefined,
    });
    await open(monitor, "monitor", "", token("admin"), "sv");
    const problem = monitor.getByTestId("monitor-problem");
    await problem.waitFor({ timeout: 15_000 });
    expect(await problem.textContent()).toBe("Det gick inte: servern är upptagen, försök igen om en stund");
    await monitor.close();
  }, 60_000);
});
