// The business wall and the admin monitor in real Chromium, over a real
// conversation: the customer's Chromium plays recorded utterances through
// its fake microphone into the customer app (WebRTC to mediasoup, the
// pocketsphinx worker, scoring); the business's wall, another business's
// wall and an admin's monitor are open in another Chromium; a dashboard
// that stopped reading sits on the node all along. Asserted: what each page
// shows (or does not), never how fast. A customer's deletion takes their
// conversation off the wall, drill-down included. The store filter narrows
// the figures too; moderation settings say when saving fails.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { conversationWav, DashboardClient } from "@parley/loadtest";
import type { Browser, Page } from "playwright-core";
import { register } from "prom-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { addBusiness, addStore, demoBusiness, startServer } from "./harness.ts";
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

/** A page's socket the test can drop (both ends, as a network blip would). */
interface DroppableSocket {
  drop(): Promise<void>;
}

async function dashboard(
  browser: Browser,
  view: "" | "monitor",
  t: string,
  options: { query?: string; sockets?: DroppableSocket[] } = {},
): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  page.on("dialog", (d) => void d.accept()); // "End this customer's conversation now?"
  // The page's wall sockets through the test, as they are (the test may close one).
  const sockets = options.sockets;
  if (sockets)
    await page.routeWebSocket(/\/wall\/ws$/, (ws) => {
      const node = ws.connectToServer();
      sockets.push({
        drop: async () => {
          // Either close may find its end closed already (one end's close may close the other).
          await ws.close({ code: 4000, reason: "test: a network blip" }).catch(() => {});
          await node.close().catch(() => {});
        },
      });
    });
  await page.goto(`${server.url}/dashboard/${view}?lang=en${options.query ?? ""}#token=${t}`);
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
    const monitorSockets: DroppableSocket[] = [];
    const monitor = await dashboard(dashboards, "monitor", token("admin"), { sockets: monitorSockets });

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
    const packets = () =>
      expect
        .poll(async () => Number(await row.getByTestId("listen-packets").getAttribute("data-packets")), {
          timeout: 20_000,
        })
        .toBeGreaterThan(0);
    const audioStopped = () => monitor.evaluate(() => document.querySelector("audio")?.srcObject === null);
    // A double click starts one listener, not two racing for the node's one per admin.
    await row.getByTestId("listen").dblclick();
    await packets();
    expect(await monitor.locator(".problem").count()).toBe(0);
    // The socket drops: the node let go of the listener, so the page stops listening; it may start again.
    await monitorSockets.at(-1)!.drop();
    await row.getByTestId("listen-packets").waitFor({ state: "detached", timeout: 15_000 });
    expect(await audioStopped()).toBe(true);
    await monitor.getByTestId("connection").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });
    await row.getByTestId("listen").click();
    await packets();

    // The stalled dashboard was closed by the node; the others kept receiving.
    await expect.poll(closedByPolicy, { timeout: 30_000 }).toBeGreaterThan(closedBefore);
    const finalsBeforeEnd = (await finalsOn(wall)).length;

    // The admin ends the conversation: the customer's page says so, the walls show it ended.
    await row.getByTestId("end").click();
    await customer.getByTestId("ended-by-admin").waitFor({ timeout: 40_000 });
    // The session left the monitor's report: the admin no longer listens to it.
    await expect.poll(audioStopped, { timeout: 20_000 }).toBe(true);
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

    const deleted = await fetch(`${server.url}/api/customer/sessions/${c.sessionId}?forfeitReward=true`, {
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

  it("narrows the tiles and 'live now' to the store picked in the filter", async () => {
    await addStore(server, "annex");
    const finished = async (storeCode: string, n: number) => {
      const c = new FakeConversation(server.bus, storeCode, ids.demo, server.config.nodeId);
      await server.records.beginSession({
        sessionId: c.sessionId,
        storeCode,
        consent: { given: true, version: "test" },
        deviceId: `wall-browser-store-${n}`,
        ip: `10.4.1.${n}`,
        receipt: `WALL-STORE-${n}`,
      });
      c.start();
      c.segment(1, `a visit to ${storeCode}`, true);
      c.end({ score: 70, relevance: 0.9, topics: ["service"] });
    };
    await finished("annex", 1);
    await finished("demo", 2);
    await server.records.flush();
    const talking = ["annex", "demo"].map((code) =>
      new FakeConversation(server.bus, code, ids.demo, server.config.nodeId).start(),
    );
    const dashboards = await launchChromium();
    browsers.push(dashboards);
    const wall = await dashboard(dashboards, "", token("owner", ids.demo));
    const tile = (name: string) => wall.getByTestId(name).locator(".value");
    await expect.poll(async () => Number(await tile("tile-today").textContent())).toBeGreaterThanOrEqual(2);
    await expect.poll(async () => Number(await tile("tile-live").textContent())).toBeGreaterThanOrEqual(2);

    await wall.getByTestId("filters").locator("select").first().selectOption("annex");
    await expect.poll(() => tile("tile-today").textContent()).toBe("1");
    await expect.poll(() => tile("tile-live").textContent()).toBe("1");
    for (const c of talking) c.end({ score: 50 });
  }, 60_000);

  it("says when moderation settings are not saved, keeps what one types, and wants an admin's wall to name its business", async () => {
    const dashboards = await launchChromium();
    browsers.push(dashboards);
    const settings = (page: Page) => page.getByTestId("moderation-settings");
    const phrases = (page: Page) => settings(page).locator('input[type="text"]');
    const save = (page: Page) => settings(page).getByRole("button", { name: "Save" }).click();
    const saved = (page: Page) => settings(page).getByRole("button", { name: "Saved" }).waitFor({ timeout: 15_000 });
    const typing = await dashboard(dashboards, "", token("owner", ids.demo));
    const saving = await dashboard(dashboards, "", token("owner", ids.demo));
    const watching = await dashboard(dashboards, "", token("owner", ids.demo));

    // The node refuses a phrase over 100 characters: the page says so.
    await phrases(saving).fill("x".repeat(101));
    await save(saving);
    await settings(saving).getByRole("alert").filter({ hasText: "Not saved" }).waitFor({ timeout: 15_000 });

    // Another owner's save reaches every wall, but not the input someone is typing in.
    await phrases(typing).fill("still typing");
    await phrases(saving).fill("the manager's name");
    await save(saving);
    await saved(saving);
    await expect.poll(() => phrases(watching).inputValue()).toBe("the manager's name");
    await typing.waitForTimeout(500);
    expect(await phrases(typing).inputValue()).toBe("still typing");

    // An admin's wall of every business has no settings to change; one of a business has.
    const everyBusiness = await dashboard(dashboards, "", token("admin"));
    await everyBusiness.getByTestId("ticker").waitFor();
    expect(await settings(everyBusiness).count()).toBe(0);
    const oneBusiness = await dashboard(dashboards, "", token("admin"), { query: `&business=${ids.demo}` });
    await phrases(oneBusiness).fill("");
    await save(oneBusiness);
    await saved(oneBusiness);
    await expect.poll(() => phrases(watching).inputValue()).toBe("");
  }, 60_000);
});
