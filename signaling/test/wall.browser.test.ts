// The business wall and the admin monitor in real Chromium, over a real
// conversation: the customer's Chromium plays recorded utterances through
// its fake microphone into the customer app (WebRTC to mediasoup, the
// pocketsphinx worker, scoring); the business's wall, another business's
// wall and an admin's monitor are open in another Chromium; a dashboard
// that stopped reading sits on the node all along. Asserted: what each page
// shows (or does not), never how fast. A customer's deletion takes their
// conversation off the wall, drill-down included.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { conversationWav, DashboardClient } from "@parley/loadtest";
import type { Browser, Page } from "playwright-core";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { addBusiness, demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";

let server: ParleyServer;
const ids = { demo: "", acme: "", zeta: "" };
const browsers: Browser[] = [];
const work = mkdtempSync(path.join(tmpdir(), "parley-wall-browser-"));

beforeAll(async () => {
  server = await startServer({
    MAX_TURNS: "20",
    END_SILENCE_MS: "90000",
    WALL_CLIENT_SOFT_LIMIT_BYTES: String(16 * 1024),
    WALL_CLIENT_DROP_PARTIALS_BYTES: String(64 * 1024),
    WALL_CLIENT_CLOSE_BYTES: String(512 * 1024),
  });
  // demo: the customer's business; acme: another business; zeta: where a burst goes.
  ids.demo = demoBusiness(server);
  ids.acme = await addBusiness(server, "Acme", "north");
  ids.zeta = await addBusiness(server, "Zeta", "z1");
}, 60_000);
afterAll(async () => {
  for (const b of browsers) await b.close();
  await server?.close();
});

const token = (role: "owner" | "admin", businessId?: string) =>
  server.dashboardTokens.issue(
    { userId: `${role}-${businessId ?? "ops"}`, role, ...(businessId ? { businessId } : {}) },
    600_000,
  );

async function dashboard(browser: Browser, view: "" | "monitor", t: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on("dialog", (d) => void d.accept()); // "End this customer's conversation now?"
  await page.goto(`${server.url}/dashboard/${view}?lang=en#token=${t}`);
  await page.locator('[data-testid="connection"]').filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
  return page;
}

const liveCard = (page: Page) => page.locator('[data-testid="card"][data-status="live"][data-store="demo"]');
const finalsOn = (page: Page) =>
  liveCard(page)
    .locator('[data-final="1"]')
    .evaluateAll((els) => els.map((e) => e.textContent?.trim() ?? ""));

async function closedByPolicy(): Promise<number> {
  const metric = (await register.getSingleMetric("wall_clients_closed_total")?.get())?.values ?? [];
  return metric.reduce((n, v) => n + v.value, 0);
}

describe("the wall and the monitor in a real browser", () => {
  it("shows the conversation live to its business only, survives a stalled dashboard, and lets an admin listen and end it", async () => {
    const talk = conversationWav(work);
    const customerBrowser = await launchChromium({ microphoneWav: talk.wav });
    const dashboards = await launchChromium({ fakeMicrophone: true });
    browsers.push(customerBrowser, dashboards);

    // A dashboard that stops reading: an admin's, so it gets every business's events.
    const stalled = (await DashboardClient.subscribed(server, token("admin"))).client;
    stalled.ws.pause();
    const closedBefore = await closedByPolicy();

    const wall = await dashboard(dashboards, "", token("owner", ids.demo));
    const otherWall = await dashboard(dashboards, "", token("owner", ids.acme));
    const monitor = await dashboard(dashboards, "monitor", token("admin"));

    const customer = await customerBrowser.newPage();
    await customer.goto(`${server.url}/?store=demo&audio=raw&lang=en`);
    await customer.getByTestId("start").click();
    await customer.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 15_000 });

    // The wall shows the transcript and the score while the customer is still talking.
    await liveCard(wall).locator('[data-final="1"]').first().waitFor({ timeout: 60_000 });
    await liveCard(wall).getByTestId("score").waitFor({ timeout: 60_000 });
    expect(await customer.getByTestId("finish").isVisible()).toBe(true);
    const soFar = await finalsOn(wall);
    expect(soFar.length).toBeGreaterThan(0);

    // A burst for another business floods the stalled dashboard, and only it.
    const burst = new FakeConversation(server.bus, "z1", ids.zeta).start();
    for (let i = 0; i < 6000; i++) {
      burst.segment(Math.floor(i / 10), `burst ${i} ${"x".repeat(2000)}`, i % 10 === 9);
      if (i % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    burst.end({ score: 50 });

    // A wall that connects now shows the transcript so far.
    const late = await dashboard(dashboards, "", token("owner", ids.demo));
    await liveCard(late).locator('[data-final="1"]').first().waitFor({ timeout: 15_000 });
    const lateFinals = await finalsOn(late);
    for (const text of soFar) expect(lateFinals).toContain(text);

    // The admin's monitor: the session, with audio flowing; listening in receives it through the SFU.
    // Businesses by name (records knows them), not by id.
    const row = monitor.locator('[data-testid="session-row"]').filter({ hasText: "Demo business / demo" });
    await row.and(monitor.locator('[data-stage="TRANSCRIBING"], [data-stage="SCORING"]')).waitFor({ timeout: 30_000 });
    // Inside a loopback-only network namespace Chromium gathers ICE candidates
    // (loopback ones) only for a page that holds a media permission; on a real
    // network the admin's browser uses its default route and needs none.
    await monitor.evaluate(async () => {
      for (const track of (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks()) track.stop();
    });
    await row.getByTestId("listen").click();
    await expect
      .poll(async () => Number(await row.getByTestId("listen-packets").getAttribute("data-packets")), {
        timeout: 20_000,
      })
      .toBeGreaterThan(0);

    // The stalled dashboard was closed by the node; the others kept receiving.
    await expect.poll(closedByPolicy, { timeout: 30_000 }).toBeGreaterThan(closedBefore);
    const finalsBeforeEnd = (await finalsOn(wall)).length;

    // The admin ends the conversation: the customer's page says so, the walls show it ended.
    await row.getByTestId("end").click();
    await customer.getByTestId("ended-by-admin").waitFor({ timeout: 40_000 });
    await wall.locator('[data-testid="card"][data-status="ended"][data-store="demo"]').waitFor({ timeout: 20_000 });
    await late.locator('[data-testid="card"][data-status="ended"][data-store="demo"]').waitFor({ timeout: 20_000 });
    const ended = wall.locator('[data-testid="card"][data-status="ended"][data-store="demo"] [data-final="1"]');
    expect(await ended.count()).toBeGreaterThanOrEqual(finalsBeforeEnd);

    // The other business saw nothing of it, nor of the burst, at any point.
    expect(await otherWall.locator('[data-testid="card"]').count()).toBe(0);
    expect(await otherWall.getByTestId("tile-live").textContent()).toContain("0");
    // Nor did the demo wall see the other business's burst.
    expect(await wall.locator('[data-testid="card"][data-store="z1"]').count()).toBe(0);
    stalled.close();
  }, 240_000);

  it("drops a conversation and its open drill-down from the wall when its customer deletes their data", async () => {
    const c = new FakeConversation(server.bus, "demo", ids.demo, server.config.nodeId);
    const { dataCode } = await server.records.beginSession({
      sessionId: c.sessionId,
      storeCode: "demo",
      consent: { given: true, version: "test" },
      deviceId: "wall-browser-deleted",
      ip: "10.4.0.1",
      receipt: "WALL-DELETED-1",
    });
    c.start();
    c.segment(1, "the changing rooms were a mess", true);
    c.end({ score: 35, relevance: 0.9, topics: ["cleanliness"] });
    await server.records.flush();
    const dashboards = await launchChromium({ fakeMicrophone: true });
    browsers.push(dashboards);
    const wall = await dashboard(dashboards, "", token("owner", ids.demo));
    const card = wall.locator(`[data-testid="card"][data-session="${c.sessionId}"]`);
    await card.getByTestId("open").click();
    await wall.getByTestId("drill").getByText("the changing rooms were a mess").first().waitFor({ timeout: 15_000 });

    const deleted = await fetch(`${server.url}/api/customer/sessions/${c.sessionId}`, {
      method: "DELETE",
      headers: { "x-parley-data-code": dataCode },
    });
    expect(deleted.status).toBe(200);
    await card.waitFor({ state: "detached", timeout: 15_000 });
    await wall.getByTestId("drill").waitFor({ state: "detached", timeout: 15_000 });
    // A reload asks the node again: neither the history nor the node's live copy has it.
    await wall.reload();
    await wall.locator('[data-testid="connection"]').filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    await wall.getByTestId("ticker").waitFor();
    expect(await card.count()).toBe(0);
  }, 120_000);
});
