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

describe("the consent screen", () => {
  /** What the app sends with a new session: the node's answer is held back (a 503), nothing is started. */
  async function consentSent(page: Page): Promise<() => unknown> {
    let body: unknown;
    await page.route("**/api/sessions", async (route) => {
      body = route.request().postDataJSON();
      await route.fulfill({ status: 503, contentType: "application/json", body: '{"error":"held back"}' });
    });
    return () => (body as { consent?: unknown } | undefined)?.consent;
  }

  it("states the node's own retention, in both languages, and stores the version of the text shown", async () => {
    const shortKept = await startServer({ DATA_RETENTION_DAYS: "30", VOICE_DATA_RETENTION_HOURS: "1" });
    try {
      for (const [s, en, sv, version] of [
        [
          server,
          "for up to 2 years; the sound fingerprint for 24 hours.",
          "i upp till 2 år; ljudets fingeravtryck i 24 timmar.",
          "2026-11-v2;d730;h24",
        ],
        [
          shortKept,
          "for up to 30 days; the sound fingerprint for 1 hour.",
          "i upp till 30 dagar; ljudets fingeravtryck i 1 timme.",
          "2026-11-v2;d30;h1",
        ],
      ] as const) {
        const { page } = await newPage();
        await holdMicrophones(page);
        const consent = await consentSent(page);
        await page.goto(`${s.url}/?store=demo`);
        const shown = page.getByTestId("consent");
        await page.getByTestId("start").waitFor({ timeout: 10_000 });
        expect(await shown.textContent()).toContain(en);
        expect(await shown.textContent()).toMatch(/approves may be shown on a screen in the store/);
        await page.getByTestId("language").click();
        expect(await shown.textContent()).toContain(sv);
        expect(await shown.textContent()).toMatch(/godkänner kan visas på en skärm i butiken/);
        await page.getByTestId("start").click();
        await page.getByTestId("problem").waitFor({ timeout: 10_000 });
        expect(consent()).toEqual({ given: true, version });
        await page.context().close();
      }
    } finally {
      await shortKept.close();
    }
  }, 120_000);
});
