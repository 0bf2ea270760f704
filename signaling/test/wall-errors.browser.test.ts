// The wall in real Chromium when the node says no, fails, or answers late:
// a scope it refuses for good (an unknown store, an admin's public screen of
// no business) is said on the page; a failed subscription is retried; a
// drill-down shows the conversation that is open, or that it failed. The
// page's socket goes through the test (Playwright's routeWebSocket), which
// holds or replaces the node's answers.
import { fromBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema } from "@parley/proto/wall";
import { ErrorCode } from "@parley/proto/ws";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { dashboardToken, demoBusiness, startServer } from "./harness.ts";
import { FakeConversation } from "./wall/events.ts";
import { errorAnswer, relayWall } from "./wallRelay.ts";

let server: ParleyServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

const token = (role: "owner" | "admin") => dashboardToken(server, role, "errors");

async function open(page: Page, query: string, t: string): Promise<void> {
  await page.goto(`${server.url}/dashboard/${query}${query.includes("?") ? "&" : "?"}lang=en#token=${t}`);
}

const live = (page: Page) => page.getByTestId("connection").filter({ hasText: "Live" }).waitFor({ timeout: 15_000 });

/** A finished conversation of the demo store in the history; its id. */
async function finished(text: string, n: number): Promise<string> {
  const c = new FakeConversation(server.bus, "demo", demoBusiness(server), server.config.nodeId);
  await server.records.beginSession({
    sessionId: c.sessionId,
    storeCode: "demo",
    consent: { given: true, version: "test" },
    deviceId: `wall-errors-${n}`,
    ip: `10.5.0.${n}`,
    receipt: `WALL-ERRORS-${n}`,
  });
  c.start();
  c.segment(1, text, true);
  c.end({ score: 60, relevance: 0.9, topics: ["service"] });
  return c.sessionId;
}

describe("the wall when the node refuses, fails or answers late", () => {
  it("says which store it cannot show instead of waiting on 'Connecting…' for ever", async () => {
    const page = await browser.newPage();
    await open(page, "?store=nosuch", token("owner"));
    await page.getByRole("alert").filter({ hasText: "nosuch" }).waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("connection").textContent()).toContain("Not connected");
    await page.close();
  });

  it("says that an admin's public screen must name its business, and shows it once it does", async () => {
    const page = await browser.newPage();
    await open(page, "?public=1&kiosk=1", token("admin"));
    await page.getByRole("alert").filter({ hasText: "?business=" }).waitFor({ timeout: 15_000 });
    await open(page, `?public=1&kiosk=1&business=${demoBusiness(server)}`, token("admin"));
    await live(page);
    expect(await page.getByRole("alert").count()).toBe(0);
    await page.close();
  });

  it("connects again when a subscription fails on the node's side", async () => {
    const page = await browser.newPage();
    let subscribes = 0;
    let failedRequest = -1;
    await relayWall(page, {
      request: (m) => {
        if (m.kind.case !== "subscribe") return;
        subscribes++;
        if (subscribes === 1) failedRequest = m.requestId;
      },
      reply: (m) =>
        m.kind.case === "response" && m.kind.value.requestId === failedRequest
          ? errorAnswer(failedRequest, ErrorCode.INTERNAL, "the database is away")
          : undefined,
    });
    await open(page, "", token("owner"));
    await live(page);
    expect(subscribes).toBe(2);
    await page.close();
  });

  it("notices a socket left open and silent by a network switch, and connects again to what happened meanwhile", async () => {
    const page = await browser.newPage();
    let sockets = 0;
    let silenced = 0; // the socket whose bytes go nowhere, either way (0: none)
    const pings: number[] = [];
    await page.routeWebSocket(/\/wall\/ws$/, (ws) => {
      const socket = ++sockets;
      const node = ws.connectToServer();
      ws.onMessage((data) => {
        const m = fromBinary(ClientMessageSchema, new Uint8Array(data as Buffer));
        if (m.kind.case === "ping") pings.push(socket);
        if (socket !== silenced) node.send(data);
      });
      node.onMessage((data) => {
        if (socket !== silenced) ws.send(data);
      });
    });
    await open(page, "", token("owner"));
    await live(page);
    silenced = sockets;
    // A conversation goes on while the wall hears nothing.
    const c = new FakeConversation(server.bus, "demo", demoBusiness(server), server.config.nodeId).start();
    c.segment(1, "the fitting rooms had no mirrors", true);
    // The page pings the quiet socket, gets no pong, and connects again: the conversation is there.
    const card = page.locator(`[data-testid="card"][data-session="${c.sessionId}"]`);
    await card.getByText("the fitting rooms had no mirrors").waitFor({ timeout: 60_000 });
    expect(sockets).toBe(2);
    expect(pings).toContain(1);
    await live(page);
    await page.close();
  }, 90_000);

  it("shows the drill-down of the conversation open, not one answered late, and says when one fails", async () => {
    const first = await finished("alpha the queue was long", 1);
    const second = await finished("bravo the staff were kind", 2);
    const third = await finished("charlie the floor was wet", 3);
    await server.records.flush();

    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    const conversationOf = new Map<number, string>();
    let releaseFirst!: () => void;
    const firstReleased = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstDelivered!: () => void;
    const firstAnswered = new Promise<void>((resolve) => {
      firstDelivered = resolve;
    });
    let secondDelivered!: () => void;
    const secondAnswered = new Promise<void>((resolve) => {
      secondDelivered = resolve;
    });
    await relayWall(page, {
      request: (m) => {
        if (m.kind.case === "getConversation") conversationOf.set(m.requestId, m.kind.value.sessionId);
      },
      reply: async (m) => {
        if (m.kind.case !== "response") return undefined;
        const sessionId = conversationOf.get(m.kind.value.requestId);
        if (sessionId === first) {
          await firstReleased; // the first conversation's answer comes after the second's
          setTimeout(firstDelivered, 0);
        }
        if (sessionId === second) setTimeout(secondDelivered, 0);
        if (sessionId === third) return errorAnswer(m.kind.value.requestId, ErrorCode.INTERNAL, "history down");
        return undefined;
      },
    });
    await open(page, "", token("owner"));
    await live(page);
    // The live region for alerts is there before any alert (a screen reader announces only changes to it).
    await page.locator("[aria-live]").waitFor({ state: "attached" });

    const card = (sessionId: string) => page.locator(`[data-testid="card"][data-session="${sessionId}"]`);
    const drill = page.getByTestId("drill");
    // The first one opened and closed at once (its answer still on its way), then the second.
    await card(first).getByTestId("open").click();
    await drill.getByRole("button", { name: "Close" }).click();
    await card(second).getByTestId("open").click();
    await secondAnswered;
    releaseFirst();
    await firstAnswered;
    await page.waitForTimeout(500);
    const transcript = await drill.getByTestId("drill-transcript").textContent();
    expect(transcript).toContain("bravo");
    expect(transcript).not.toContain("alpha");

    // The drill-down has the focus; Escape closes it and gives the focus back.
    expect(await drill.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press("Escape");
    await drill.waitFor({ state: "detached", timeout: 5_000 });
    expect(
      await card(second)
        .getByTestId("open")
        .evaluate((el) => el === document.activeElement),
    ).toBe(true);

    // A conversation the history fails to give says so (it does not load for ever).
    await card(third).getByTestId("open").click();
    await drill.getByRole("alert").filter({ hasText: "could not be loaded" }).waitFor({ timeout: 15_000 });
    await page.close();
  }, 60_000);
});
