// The customer app opened from a link that cannot lead to a conversation, in
// a real browser: a link naming no store (none at all, an empty one, an
// unknown one) is said at once, before the microphone is asked for and with no
// start button; a store whose language no speech worker takes is said as such,
// with no retry (trying again would not help).
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { holdMicrophones } from "./pageSockets.ts";

let server: ParleyServer;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  browser = await launchChromium({ fakeMicrophone: true });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** A page that counts the app's asks for the microphone (`window.micAsked`) and the API requests it makes. */
async function newPage(): Promise<{ page: Page; requests: string[] }> {
  const page = await (await browser.newContext({ locale: "en-GB" })).newPage();
  await page.addInitScript(() => {
    const media = navigator.mediaDevices;
    const native = media.getUserMedia.bind(media);
    Object.assign(window, { micAsked: 0 });
    media.getUserMedia = (constraints) => {
      (window as unknown as { micAsked: number }).micAsked++;
      return native(constraints);
    };
  });
  const requests: string[] = [];
  page.on("request", (r) => {
    if (new URL(r.url()).pathname.startsWith("/api/")) requests.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  return { page, requests };
}

const micAsked = (page: Page) => page.evaluate(() => (window as unknown as { micAsked: number }).micAsked);

describe("a link that names no store", () => {
  it("says so before the microphone is asked for, with no start button: no store, an empty one, an unknown one", async () => {
    const sessionsBefore = server.sessions.size;
    for (const query of ["", "?store=", "?store=nope", "?store=n%C3%B6pe%20x"]) {
      const { page, requests } = await newPage();
      await page.goto(`${server.url}/${query}`);
      const problem = page.getByTestId("problem");
      await problem.waitFor({ timeout: 10_000 });
      expect(await problem.textContent(), query).toBe(
        "This link doesn't name a store: scan the store's QR code again.",
      );
      expect(await page.getByRole("alert").count(), query).toBe(1);
      // Nothing to start, nothing to consent to, no microphone asked for, no session asked for.
      expect(await page.getByTestId("start").count(), query).toBe(0);
      expect(await page.getByTestId("consent").count(), query).toBe(0);
      expect(await page.getByTestId("store").count(), query).toBe(0);
      expect(await micAsked(page), query).toBe(0);
      expect(
        requests.filter((r) => r.startsWith("POST")),
        query,
      ).toEqual([]);
      // Said in Swedish too.
      await page.getByTestId("language").click();
      expect(await problem.textContent(), query).toBe("Länken pekar inte ut någon butik: skanna butikens QR-kod igen.");
      await page.context().close();
    }
    expect(server.sessions.size).toBe(sessionsBefore);
  }, 120_000);

  it("shows a known store's name and the consent screen as before (?store=demo)", async () => {
    const { page, requests } = await newPage();
    await page.goto(`${server.url}/?store=demo`);
    await page.getByTestId("start").waitFor({ timeout: 10_000 });
    expect(await page.locator("header .store").textContent()).toBe("Demo store");
    expect(await page.getByTestId("consent").count()).toBe(1);
    expect(await page.getByTestId("problem").count()).toBe(0);
    expect(await micAsked(page)).toBe(0); // not before the customer consents
    expect(requests).toEqual(["GET /api/stores/demo"]);
    await page.context().close();
  });
});

describe("a store whose language no speech worker takes", () => {
  it("says so in the customer's language, with no retry, instead of a status code", async () => {
    const { page } = await newPage();
    await holdMicrophones(page);
    // The node's answer for such a store (POST /api/sessions: 422, language_unsupported).
    await page.route("**/api/sessions", (route) =>
      route.fulfill({
        status: 422,
        contentType: "application/json",
        body: JSON.stringify({
          error: "no speech worker takes de-DE",
          reason: "language_unsupported",
          language: "de-DE",
        }),
      }),
    );
    await page.goto(`${server.url}/?store=demo`);
    await page.getByTestId("start").click();
    const problem = page.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toBe(
      "Feedback in German can't be given here yet, so this store can't take your feedback right now. Please let the staff know.",
    );
    expect(await problem.textContent()).not.toMatch(/422/);
    // Trying again would not help: no "Try again", no countdown, no consent screen to start from.
    expect(await page.getByTestId("start").count()).toBe(0);
    expect(await page.getByTestId("consent").count()).toBe(0);
    // The store is still named (it exists), and the microphone opened for the attempt is closed again.
    expect(await page.getByTestId("store").textContent()).toBe("Demo store");
    const tracks = await page.evaluate(() =>
      (window as unknown as { tracks: MediaStreamTrack[] }).tracks.map((t) => t.readyState),
    );
    expect(tracks).toEqual(["ended"]);
    await page.getByTestId("language").click();
    expect(await problem.textContent()).toBe(
      "Feedback på tyska går inte att ge här än, så butiken kan inte ta emot din feedback just nu. Säg gärna till personalen.",
    );
    await page.context().close();
  });
});

describe("a deployment in maintenance", () => {
  it('says so, with the retry held for the node\'s hint, instead of "busy"', async () => {
    const { page } = await newPage();
    await holdMicrophones(page);
    // The node's answer under MAINTENANCE_MODE (maintenance.int.test.ts checks the node gives it).
    await page.route("**/api/sessions", (route) =>
      route.fulfill({
        status: 503,
        contentType: "application/json",
        headers: { "retry-after": "300" },
        body: JSON.stringify({ error: "Parley is down for maintenance", reason: "maintenance", retryAfterMs: 300_000 }),
      }),
    );
    await page.goto(`${server.url}/?store=demo`);
    await page.getByTestId("start").click();
    const problem = page.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toBe("Parley is down for maintenance. Please try again in a few minutes.");
    await page.context().close();
  });
});
