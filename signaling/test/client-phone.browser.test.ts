// The customer app as a phone runs it, in a real browser: the screen stays on
// while the customer talks, a microphone the phone pauses is explained, and
// what the node refuses reads in the customer's language.

import { create } from "@bufbuild/protobuf";
import { LIBRIVOX_DIR } from "@parley/loadtest";
import { LiveEventSchema, StreamState } from "@parley/proto/live";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { issueToken, type SessionClaims } from "../src/auth/token.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import { endWhileAway, holdMicrophones, holdSockets } from "./pageSockets.ts";

let server: ParleyServer;
const browsers: Browser[] = [];
beforeAll(async () => {
  server = await startServer();
}, 60_000);
// Each test's browser goes with it: live WebRTC calls left behind would slow the next tests.
afterEach(async () => {
  await Promise.all(browsers.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await server?.close();
});

/** A page with a speaking microphone, in a browser of its own; `locale` "sv-SE" is a Swedish phone. */
async function newPage(locale = "en-GB"): Promise<Page> {
  const browser = await launchChromium({
    microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
  });
  browsers.push(browser);
  return (await browser.newContext({ locale })).newPage();
}

async function startTalking(p: Page, listening = "Listening") {
  await p.goto(`${server.url}/?store=demo`);
  await p.getByTestId("start").click();
  await p.getByTestId("status").filter({ hasText: listening }).waitFor({ timeout: 10_000 });
  return [...server.sessions.all()].at(-1)!;
}

/** What the app asked of navigator.wakeLock, and what became of the locks, in order. */
const wakeLog = (p: Page) => p.evaluate(() => (window as unknown as { wakeLog: string[] }).wakeLog);

describe("customer app on a phone: the screen stays on", () => {
  /** The customer switches to another app and back: the page is hidden, then shown. */
  async function switchAwayAndBack(p: Page) {
    const setHidden = (hidden: boolean) =>
      p.evaluate((h) => (window as unknown as { setHidden: (h: boolean) => void }).setHidden(h), hidden);
    await setHidden(true);
    await setHidden(false);
  }

  it("holds a screen wake lock while live, takes it again when the page shows again, and lets it go at the end", async () => {
    const p = await newPage();
    // A wake lock the test sees, and a page it can hide and show as a phone does (headless Chromium
    // never hides its pages): like the browser, hiding the page drops the locks it holds.
    await p.addInitScript(() => {
      const log: string[] = [];
      (window as unknown as { wakeLog: string[] }).wakeLog = log;
      const held = new Set<Sentinel>();
      class Sentinel extends EventTarget {
        readonly type = "screen";
        released = false;
        onrelease = null;
        drop(why: string) {
          if (this.released) return;
          this.released = true;
          held.delete(this);
          log.push(why);
          this.dispatchEvent(new Event("release"));
        }
        async release() {
          this.drop("released by the app");
        }
      }
      Object.defineProperty(navigator, "wakeLock", {
        configurable: true,
        value: {
          request: async (type: string) => {
            log.push(`request ${type}`);
            const sentinel = new Sentinel();
            held.add(sentinel);
            return sentinel;
          },
        },
      });
      let hidden = false;
      Object.defineProperty(document, "visibilityState", {
        configurable: true,
        get: () => (hidden ? "hidden" : "visible"),
      });
      Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
      (window as unknown as { setHidden: (h: boolean) => void }).setHidden = (h) => {
        hidden = h;
        if (h) for (const sentinel of [...held]) sentinel.drop("dropped by the browser");
        document.dispatchEvent(new Event("visibilitychange"));
      };
    });
    await p.goto(`${server.url}/?store=demo`);
    await p.getByTestId("start").waitFor();
    expect(await wakeLog(p)).toEqual([]); // not before the conversation
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    await expect.poll(() => wakeLog(p)).toEqual(["request screen"]);
    // The customer switches away and back: the browser dropped the lock, the app asks again.
    await switchAwayAndBack(p);
    await expect.poll(() => wakeLog(p)).toEqual(["request screen", "dropped by the browser", "request screen"]);
    await p.getByTestId("finish").click();
    await expect
      .poll(() => wakeLog(p))
      .toEqual(["request screen", "dropped by the browser", "request screen", "released by the app"]);
    await p.getByTestId("thanks").waitFor({ timeout: 15_000 });
    // Shown again after the end: the screen may sleep now.
    await switchAwayAndBack(p);
    expect((await wakeLog(p)).filter((e) => e.startsWith("request"))).toHaveLength(2);
  }, 60_000);
});

describe("customer app on a phone: the phone pauses the microphone", () => {
  /** A live conversation whose microphone tracks the test holds (`window.tracks`). */
  async function liveWithMicrophone() {
    const p = await newPage();
    await holdMicrophones(p);
    const session = await startTalking(p);
    return { p, session };
  }

  /** What the OS does to the track: "mute" when it takes the microphone, "unmute" when it gives it back. */
  const osDoes = (p: Page, event: "mute" | "unmute") =>
    p.evaluate(
      (e) => (window as unknown as { tracks: MediaStreamTrack[] }).tracks[0]!.dispatchEvent(new Event(e)),
      event,
    );

  it("says the microphone is paused while the phone holds it, and goes on talking", async () => {
    const { p, session } = await liveWithMicrophone();
    await osDoes(p, "mute");
    const notice = p.getByTestId("notice");
    await notice.filter({ hasText: "Your microphone is paused by the phone" }).waitFor({ timeout: 10_000 });
    // A pause is not the end: the conversation stays live.
    expect(await p.getByTestId("status").textContent()).toMatch(/Listening/);
    expect(await p.getByTestId("finish").count()).toBe(1);
    expect(session.ended).toBe(false);
    await osDoes(p, "unmute");
    await expect.poll(() => notice.count()).toBe(0);
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(session.ended).toBe(false);
  }, 60_000);

  it("leaves another notice on screen when the microphone comes back", async () => {
    const { p, session } = await liveWithMicrophone();
    const notice = p.getByTestId("notice");
    await osDoes(p, "mute");
    await notice.filter({ hasText: "paused by the phone" }).waitFor({ timeout: 10_000 });
    // The speech stream is live (its first transcript shows): its own "live" cannot clear the notice below.
    await p.locator("[data-segment]").first().waitFor({ timeout: 30_000 });
    const speechStatus = (state: StreamState) =>
      session.publishEvent(
        create(LiveEventSchema, { kind: { case: "status", value: { sessionId: session.id, state, detail: "" } } }),
      );
    // The speech service reconnects meanwhile: its notice is the one shown.
    speechStatus(StreamState.RECONNECTING);
    await notice.filter({ hasText: "Reconnecting the speech service" }).waitFor({ timeout: 10_000 });
    await osDoes(p, "unmute");
    // The microphone is back, the speech service is not yet: its notice stays.
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor();
    expect(await notice.textContent()).toMatch(/Reconnecting the speech service/);
    speechStatus(StreamState.LIVE);
    await expect.poll(() => notice.count()).toBe(0);
  }, 60_000);
});

describe("customer app: refusals in the customer's language", () => {
  it("says in Swedish that the conversation's link has expired, without the node's English", async () => {
    const p = await newPage("sv-SE");
    const warnings: string[] = [];
    p.on("console", (m) => {
      if (m.type() === "warning") warnings.push(m.text());
    });
    // The session's token arrives already expired (a link opened too late): the node refuses the join.
    await p.route("**/api/sessions", async (route) => {
      const response = await route.fetch();
      const body = (await response.json()) as { token: string };
      const claims = JSON.parse(Buffer.from(body.token.split(".")[1]!, "base64url").toString()) as SessionClaims;
      const expired = issueToken(server.config.jwtSecret, { ...claims, exp: Math.floor(Date.now() / 1000) - 60 });
      await route.fulfill({ status: response.status(), json: { ...body, token: expired } });
    });
    await p.goto(`${server.url}/?store=demo`);
    await p.getByTestId("start").click();
    const problem = p.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toBe("Länken till samtalet har gått ut. Starta ett nytt samtal.");
    expect(await problem.textContent()).not.toMatch(/token|expired/i);
    // The node's own words stay in the console, for support.
    expect(warnings.some((w) => w.includes("token expired"))).toBe(true);
  });

  it("says in Swedish that the conversation is gone when joining again is refused", async () => {
    const p = await newPage("sv-SE");
    await holdSockets(p);
    const session = await startTalking(p, "Lyssnar");
    await endWhileAway(p, server, session);
    const problem = p.getByTestId("problem");
    await problem.waitFor({ timeout: 30_000 });
    expect(await problem.textContent()).toBe("Samtalet har avslutats och kan inte fortsättas. Starta ett nytt samtal.");
    expect(await problem.textContent()).not.toMatch(/session/i);
  }, 60_000);

  it("says in Swedish that the server cannot be reached, not the browser's English", async () => {
    const p = await newPage("sv-SE");
    await p.route("**/api/sessions", (route) => route.abort("connectionrefused"));
    await p.goto(`${server.url}/?store=demo`);
    await p.getByTestId("start").click();
    const problem = p.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toBe("Servern går inte att nå.");
  });
});

describe("customer app for a screen reader", () => {
  it("names the score's bars, and says what Parley does (listening, asking) and asks, but not the customer's words", async () => {
    const p = await newPage();
    await startTalking(p);
    // The status line is a polite live region: "Listening", "Parley is asking…", reconnecting.
    expect(await p.getByRole("status").filter({ hasText: "Listening" }).count()).toBe(1);
    // The questions' live region is on the page before the first question comes, so that it is read out.
    const questions = p.getByTestId("question-live");
    expect(await questions.getAttribute("aria-live")).toBe("polite");
    // The score's four bars, each by its label.
    await p.getByTestId("score").waitFor({ timeout: 30_000 });
    for (const name of ["Details", "Actionable", "About your visit", "Mood"])
      expect(await p.getByRole("meter", { name, exact: true }).count(), name).toBe(1);
    // Parley's question comes in that region.
    await questions.getByTestId("question").waitFor({ timeout: 60_000 });
    // The customer's own words are not read out into the open microphone.
    const transcript = p.getByTestId("transcript");
    expect(await transcript.getAttribute("aria-live")).toBeNull();
    expect(await transcript.getAttribute("role")).toBeNull();
    expect(await transcript.evaluate((t) => t.closest("[aria-live], [role=status], [role=alert], [role=log]"))).toBe(
      null,
    );
  }, 120_000);
});
