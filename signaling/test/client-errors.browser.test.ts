// What the customer sees when things go wrong, in a real browser.

import { create } from "@bufbuild/protobuf";
import { LIBRIVOX_DIR, WeriftCustomer } from "@parley/loadtest";
import { EndReason, LiveEventSchema, StreamState } from "@parley/proto/live";
import type { Browser } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";
import {
  endWhileAway,
  holdMicrophones,
  holdPeerConnections,
  holdSockets,
  reportConnectionState,
  sentMessages,
  silenceSocket,
} from "./pageSockets.ts";

let server: ParleyServer;
const browsers: Browser[] = [];
beforeAll(async () => {
  server = await startServer();
}, 60_000);
// Each test's browser goes with it: a page left talking would keep its session (and its
// recogniser) busy under the tests that follow.
afterEach(async () => {
  await Promise.all(browsers.splice(0).map((b) => b.close()));
});
afterAll(async () => {
  await server?.close();
});

/**
 * The app's own waits, which a test moves the page's clock past (page.clock) instead of
 * sitting through them: REQUEST_TIMEOUT_MS, QUIET_MS and PONG_TIMEOUT_MS in client/src/connection.ts.
 */
const REQUEST_TIMEOUT_MS = 15_000;
const QUIET_MS = 8_000;
const PONG_TIMEOUT_MS = 5_000;

async function page(options: Parameters<typeof launchChromium>[0]) {
  const browser = await launchChromium(options);
  browsers.push(browser);
  const p = await browser.newPage();
  await p.goto(`${server.url}/?store=demo`);
  return p;
}

/**
 * A live conversation in a page whose sockets the test holds (`window.sockets`), so that it
 * can drop one; while `window.away` is set, new sockets go nowhere (the customer's network is gone).
 */
async function liveWithSockets({ clock = false } = {}) {
  const browser = await launchChromium({
    microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
  });
  browsers.push(browser);
  const p = await browser.newPage();
  // The page's clock runs as usual until the test moves it on.
  if (clock) await p.clock.install();
  await holdSockets(p);
  await holdPeerConnections(p);
  await p.goto(`${server.url}/?store=demo`);
  await p.getByTestId("start").click();
  await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
  return { p, session: [...server.sessions.all()].at(-1)! };
}

describe("customer app errors", () => {
  it("explains a denied microphone and offers to try again", async () => {
    // A microphone exists, but the customer has blocked it for this site.
    // (Without the fake UI flag, headless Chromium answers the prompt "block".)
    const p = await page({ fakeMicrophone: true, grantMicrophone: false });
    await p.getByTestId("start").click();
    const problem = p.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toMatch(/Microphone access was denied/);
    expect(await p.getByTestId("start").textContent()).toMatch(/Try again/);
    // The customer switches to Swedish: what is on screen is said in Swedish too.
    await p.getByTestId("language").click();
    await problem.filter({ hasText: "Mikrofonen nekades" }).waitFor({ timeout: 5_000 });
    expect(await p.getByTestId("start").textContent()).toMatch(/Försök igen/);
  });

  it("says when there is no microphone at all", async () => {
    const p = await page({ grantMicrophone: true });
    await p.getByTestId("start").click();
    const problem = p.getByTestId("problem");
    await problem.waitFor({ timeout: 10_000 });
    expect(await problem.textContent()).toMatch(/No microphone was found/);
  });

  it("keeps the conversation going when the node's media worker dies: the app reconnects its audio", async () => {
    const p = await page({ microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav` });
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    expect(server.sessions.size).toBe(1);
    const [session] = server.sessions.all();
    const workerBefore = server.mediaPool.describe()[0]!.pid;
    const mediaBefore = session!.media;
    // The node loses its media worker under the call.
    server.mediaPool.killWorker(workerBefore);
    // The session's media moves to the replacement worker and the app sets its transports up again.
    await expect.poll(() => session!.media !== mediaBefore, { timeout: 15_000 }).toBe(true);
    await expect.poll(() => session!.media?.transportCount ?? 0, { timeout: 15_000 }).toBe(2);
    expect(server.mediaPool.describe()[0]!.pid).not.toBe(workerBefore);
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(server.sessions.get(session!.id)).toBe(session);
    // Audio flows again on the new media.
    await expect.poll(() => session!.media?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    // Done: its recogniser is not left running under the tests that follow.
    await p.getByTestId("finish").click();
    await expect.poll(() => session!.ended, { timeout: 30_000 }).toBe(true);
  }, 60_000);

  it("keeps the conversation going when its media moves again while the app sets it up once more", async () => {
    const p = await page({ microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav` });
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    const mediaBefore = session.media;
    server.mediaPool.killWorker(server.mediaPool.describe()[0]!.pid);
    // The app has set up its first transport on the new media (the node runs in this process: a turn
    // of its loop at a time) when the replacement worker dies too: its next request names media gone.
    while (session.media === mediaBefore || (session.media?.transportCount ?? 0) < 1)
      await new Promise((resolve) => setImmediate(resolve));
    const mediaBetween = session.media;
    server.mediaPool.killWorker(server.mediaPool.describe()[0]!.pid);
    await expect.poll(() => session.media !== mediaBetween, { timeout: 15_000 }).toBe(true);
    await expect.poll(() => session.media?.transportCount ?? 0, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => session.media?.audioStats?.packets ?? 0, { timeout: 15_000 }).toBeGreaterThan(10);
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(session.ended).toBe(false);
    // Done: its recogniser is not left running under the tests that follow.
    await p.getByTestId("finish").click();
    await expect.poll(() => session.ended, { timeout: 30_000 }).toBe(true);
  }, 90_000);

  it("keeps the conversation going when the customer's connection drops: the app joins again and its audio flows", async () => {
    const { p, session } = await liveWithSockets();
    const mediaBefore = session.media;
    await expect.poll(() => mediaBefore?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    // While it joins again, "I'm done" is not offered (it would go out on the dead socket), and the
    // status line does not say "Listening" (nothing is heard).
    await p.evaluate(() => {
      const seen: { rejoining: boolean; finish: boolean; status: string }[] = [];
      (window as unknown as { seen: typeof seen }).seen = seen;
      new MutationObserver(() =>
        seen.push({
          rejoining: /dropped/i.test(document.querySelector('[data-testid="notice"]')?.textContent ?? ""),
          finish: document.querySelector('[data-testid="finish"]') !== null,
          status: document.querySelector('[data-testid="status"]')?.textContent?.trim() ?? "",
        }),
      ).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    // The connection drops. (A page cannot cut its socket without a close frame; a code of the
    // 3000s is neither the customer leaving (1000) nor the node's own (4000s), as a drop is to both sides.)
    await p.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets.at(-1)!.close(3000, "dropped"));
    // The app joins again; the node gives the session fresh media, which the app sets up.
    await expect.poll(() => session.media !== mediaBefore, { timeout: 15_000 }).toBe(true);
    await expect.poll(() => session.media?.transportCount ?? 0, { timeout: 15_000 }).toBe(2);
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(server.sessions.get(session.id)).toBe(session);
    expect(session.ended).toBe(false);
    await expect.poll(() => session.media?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    // The rejoin is over once the AI's voice is set up too (after the microphone's audio already
    // flows): the notice goes and "I'm done" is offered again.
    await p.getByTestId("finish").waitFor({ timeout: 10_000 });
    const dropNotice = p.getByTestId("notice").filter({ hasText: /dropped/i });
    await expect.poll(() => dropNotice.count()).toBe(0);
    const seen = await p.evaluate(
      () => (window as unknown as { seen: { rejoining: boolean; finish: boolean; status: string }[] }).seen,
    );
    expect(seen.some((s) => s.rejoining)).toBe(true);
    expect(seen.filter((s) => s.rejoining && s.finish)).toEqual([]);
    // What the status line said while the connection was being restored: that, and not "Listening";
    // then "Listening" again (above) once joined.
    expect(seen.some((s) => s.rejoining && s.status === "Reconnecting… hold on")).toBe(true);
    expect(seen.filter((s) => s.rejoining && /Listening/.test(s.status))).toEqual([]);
  }, 60_000);

  it("joins again with the microphone it opened again while the connection was down", async () => {
    const browser = await launchChromium({
      microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
    });
    browsers.push(browser);
    const p = await browser.newPage();
    await holdSockets(p);
    await holdMicrophones(p);
    await p.goto(`${server.url}/?store=demo`);
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    const mediaBefore = session.media;
    await expect.poll(() => mediaBefore?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    // The network goes, and while the app tries to join again the phone ends the microphone.
    await p.evaluate(() => {
      (window as unknown as { away: boolean }).away = true;
      (window as unknown as { sockets: WebSocket[] }).sockets.at(-1)!.close(3000, "dropped");
    });
    const notice = p.getByTestId("notice");
    await notice.filter({ hasText: /dropped/i }).waitFor({ timeout: 10_000 });
    await p.evaluate(() => {
      const track = (window as unknown as { tracks: MediaStreamTrack[] }).tracks[0]!;
      track.stop();
      track.dispatchEvent(new Event("ended"));
    });
    await expect.poll(() => p.evaluate(() => (window as unknown as { tracks: unknown[] }).tracks.length)).toBe(2);
    // The new microphone does not hide that the connection is still down.
    expect(await notice.textContent()).toMatch(/dropped/i);
    // The network comes back: the app joins with the new microphone, and its audio flows.
    await p.evaluate(() => {
      (window as unknown as { away: boolean }).away = false;
    });
    await expect.poll(() => session.media !== mediaBefore, { timeout: 20_000 }).toBe(true);
    await expect.poll(() => session.media?.audioStats?.packets ?? 0, { timeout: 15_000 }).toBeGreaterThan(10);
    await p.getByTestId("finish").waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(session.ended).toBe(false);
  }, 90_000);

  it("joins again when the node stops answering while the app sets its audio up again", async () => {
    const { p, session } = await liveWithSockets({ clock: true });
    // The node will hear nothing more on this socket (it stays open: no close will come).
    await p.evaluate(() => {
      const w = window as unknown as { sockets: WebSocket[]; deaf?: boolean; unheard: number };
      const deaf = w.sockets.at(-1)!;
      const send = deaf.send.bind(deaf);
      w.unheard = 0;
      deaf.send = (data) => {
        if (w.deaf) w.unheard++;
        else send(data);
      };
      w.deaf = true;
    });
    const mediaBefore = session.media;
    // The node moves the session's media: the app's requests to set it up again go unanswered.
    server.mediaPool.killWorker(server.mediaPool.describe()[0]!.pid);
    const notice = p.getByTestId("notice");
    await notice.filter({ hasText: /audio/i }).waitFor({ timeout: 15_000 });
    // Its first request to set the audio up again is out (its timeout running): the request
    // timeout passes on the page's clock.
    await expect
      .poll(() => p.evaluate(() => (window as unknown as { unheard: number }).unheard), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await p.clock.fastForward(REQUEST_TIMEOUT_MS);
    // After the request timeout the app gives that socket up and joins again: fresh media, audio flows.
    await expect
      .poll(() => session.media !== mediaBefore && (session.media?.audioStats?.packets ?? 0) > 10, { timeout: 45_000 })
      .toBe(true);
    await expect.poll(() => notice.count(), { timeout: 10_000 }).toBe(0);
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(session.ended).toBe(false);
  }, 90_000);

  it("ends the conversation with its score and data code when the voice service stops for good", async () => {
    const p = await page({ microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav` });
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    await p.locator("[data-segment]").first().waitFor({ timeout: 30_000 });
    // What the node publishes once no speech worker will take the stream (its retries spent).
    session.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "status",
          value: { sessionId: session.id, state: StreamState.FAILED, detail: "no speech worker answers" },
        },
      }),
    );
    await p.getByTestId("thanks").waitFor({ timeout: 15_000 });
    expect(await p.getByTestId("notice").first().textContent()).toMatch(/voice service stopped/i);
    expect(await p.getByTestId("final-score").textContent()).toMatch(/\d+/);
    expect(await p.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
    expect(await p.getByTestId("problem").count()).toBe(0);
    await expect.poll(() => session.ended).toBe(true);
  }, 60_000);

  it("leaves what was only true while the customer talked off the end screen", async () => {
    const p = await page({ microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav` });
    await p.getByTestId("start").click();
    await p.getByTestId("finish").waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    // What the node publishes while its speech worker is being replaced under the conversation.
    session.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "status",
          value: { sessionId: session.id, state: StreamState.RECONNECTING, detail: "speech worker lost" },
        },
      }),
    );
    await p
      .getByTestId("notice")
      .filter({ hasText: /Reconnecting the speech service/ })
      .waitFor({ timeout: 10_000 });
    // The customer is done meanwhile: the thank-you screen does not say it is still reconnecting.
    await p.getByTestId("finish").click();
    await p.getByTestId("thanks").waitFor({ timeout: 30_000 });
    expect(await p.getByTestId("notice").count()).toBe(0);
    await expect.poll(() => session.ended).toBe(true);
  }, 60_000);

  it("says there is no score when the conversation ended without one, not a score of 0", async () => {
    const p = await page({ microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav` });
    await p.getByTestId("start").click();
    await p.getByTestId("finish").waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    // A live score is on screen; then the conversation ends without a final one (cut short). The
    // node publishes one end per conversation: this is it.
    await p.getByTestId("score").waitFor({ timeout: 30_000 });
    session.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "conversationEnded",
          value: { sessionId: session.id, reason: EndReason.MAX_DURATION, summary: "", currency: "SEK" },
        },
      }),
    );
    await p.getByTestId("thanks").waitFor({ timeout: 30_000 });
    expect(await p.getByTestId("final-score").count()).toBe(0);
    const noScore = p.getByTestId("no-final-score");
    expect(await noScore.textContent()).toBe("No score: the conversation was cut short.");
    // Nor is the last live score shown as if it were the final one.
    expect(await p.getByTestId("score").count()).toBe(0);
    await expect.poll(() => session.ended).toBe(true);
    // The same after a reload of the end screen, and in Swedish.
    await p.reload();
    await p.getByTestId("thanks").waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("final-score").count()).toBe(0);
    await p.getByTestId("language").click();
    expect(await noScore.textContent()).toBe("Inget betyg: samtalet avbröts i förtid.");
  }, 60_000);

  it("notices a connection left open and silent by a network switch, and joins again", async () => {
    const { p, session } = await liveWithSockets({ clock: true });
    const mediaBefore = session.media;
    await expect.poll(() => mediaBefore?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    const socketsBefore = await p.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets.length);
    // Wi-Fi given up for mobile data: the socket stays open, and nothing passes either way.
    await silenceSocket(p);
    const pings = async () => (await sentMessages(p)).filter((m) => m.kind.case === "ping").length;
    const pingsBefore = await pings();
    // The socket stays quiet long enough (on the page's clock) for the app to ping it...
    await p.clock.fastForward(QUIET_MS);
    await expect.poll(pings, { timeout: 15_000 }).toBeGreaterThan(pingsBefore);
    // ...and its Pong's time runs out.
    await p.clock.fastForward(PONG_TIMEOUT_MS);
    // Its ping goes unanswered: the app gives it up and joins again; fresh media, audio flows.
    await expect
      .poll(() => session.media !== mediaBefore && (session.media?.audioStats?.packets ?? 0) > 10, { timeout: 45_000 })
      .toBe(true);
    const messages = await sentMessages(p);
    expect(messages.some((m) => m.kind.case === "ping")).toBe(true);
    expect(await p.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets.length)).toBeGreaterThan(
      socketsBefore,
    );
    await p.getByTestId("finish").waitFor({ timeout: 10_000 });
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(session.ended).toBe(false);
  }, 90_000);

  it("restarts ICE when its audio's network fails, keeping its media, socket and conversation", async () => {
    const { p, session } = await liveWithSockets();
    const media = session.media!;
    await expect.poll(() => media.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    const produce = (await sentMessages(p)).find((m) => m.kind.case === "produce");
    const sendTransportId = produce?.kind.case === "produce" ? produce.kind.value.transportId : "";
    // The send transport's peer connection says it failed, as after a switch of networks.
    await reportConnectionState(p, "send", "failed");
    // The app asks the node for new ICE credentials and restarts ICE with them (a real restart).
    const restarts = async () =>
      (await sentMessages(p)).filter(
        (m) => m.kind.case === "restartIce" && m.kind.value.transportId === sendTransportId,
      ).length;
    await expect.poll(restarts, { timeout: 15_000 }).toBe(1);
    await reportConnectionState(p, "send", undefined);
    const packets = media.audioStats?.packets ?? 0;
    await expect.poll(() => media.audioStats?.packets ?? 0, { timeout: 15_000 }).toBeGreaterThan(packets + 10);
    // The same media and socket: no setup from scratch, no rejoin, and no second restart.
    expect(session.media).toBe(media);
    expect(await p.evaluate(() => (window as unknown as { sockets: WebSocket[] }).sockets.length)).toBe(1);
    expect(await restarts()).toBe(1);
    expect(await p.getByTestId("problem").count()).toBe(0);
    expect(await p.getByTestId("notice").count()).toBe(0);
    expect(session.ended).toBe(false);
  }, 90_000);

  it("keeps the data code on screen when the conversation ended while the customer was away", async () => {
    const { p, session } = await liveWithSockets();
    // The connection drops and the node ends the conversation, as when its rejoin grace runs out.
    await endWhileAway(p, server, session);
    // Joining again is refused: the app says so, and the customer still has the code to their data.
    await p.getByTestId("problem").waitFor({ timeout: 30_000 });
    expect(await p.getByTestId("data-code").textContent()).toMatch(/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}/);
  }, 60_000);
});

describe("customer app when the microphone stops", () => {
  /** A page whose microphone tracks the test can end; `reopen` false: opening it again fails. */
  async function withMicrophone(reopen: boolean) {
    const browser = await launchChromium({
      microphoneWav: `${LIBRIVOX_DIR}/sense_and_sensibility_01_austen_64kb-0870.wav`,
    });
    browsers.push(browser);
    const p = await browser.newPage();
    await holdMicrophones(p, reopen);
    await p.goto(`${server.url}/?store=demo`);
    await p.getByTestId("start").click();
    await p.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    const session = [...server.sessions.all()].at(-1)!;
    await expect.poll(() => session.media?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(10);
    // The device goes away: the browser ends the track (stop() alone fires no "ended").
    await p.evaluate(() => {
      const track = (window as unknown as { tracks: MediaStreamTrack[] }).tracks[0]!;
      track.stop();
      track.dispatchEvent(new Event("ended"));
    });
    return { p, session };
  }

  it("opens the microphone again and keeps sending on the same producer", async () => {
    const { p, session } = await withMicrophone(true);
    await expect.poll(() => p.evaluate(() => (window as unknown as { tracks: unknown[] }).tracks.length)).toBe(2);
    await expect.poll(() => p.getByTestId("notice").count(), { timeout: 10_000 }).toBe(0);
    const packets = session.media?.audioStats?.packets ?? 0;
    // Audio flows again from the new track.
    await expect.poll(() => session.media?.audioStats?.packets ?? 0, { timeout: 10_000 }).toBeGreaterThan(packets + 10);
    expect(session.ended).toBe(false);
    expect(await p.getByTestId("problem").count()).toBe(0);
  });

  it("ends the conversation with what was said when the microphone cannot be opened again", async () => {
    const { p, session } = await withMicrophone(false);
    await p.getByTestId("thanks").waitFor({ timeout: 30_000 });
    expect(await p.getByTestId("notice").first().textContent()).toMatch(/microphone stopped/i);
    await expect.poll(() => session.ended, { timeout: 10_000 }).toBe(true);
  });
});

describe("customer app when the service is full", () => {
  it("says it is busy and to try again in a moment, and runs under the strict CSP", async () => {
    // One speech slot, held by a customer whose microphone is on.
    const full = await startServer({ ASR_EMBEDDED_MAX_STREAMS: "1", ASR_ADMISSION_HOLD_MS: "120000" });
    const occupant = await WeriftCustomer.connect(full);
    try {
      const browser = await launchChromium({ fakeMicrophone: true });
      browsers.push(browser);
      const p = await browser.newPage();
      await p.clock.install(); // runs as usual until the test moves it past the wait
      const violations: string[] = [];
      await p.exposeFunction("reportViolation", (v: string) => violations.push(v));
      await p.addInitScript(() =>
        document.addEventListener("securitypolicyviolation", (e) =>
          (window as unknown as { reportViolation: (v: string) => void }).reportViolation(
            `${e.violatedDirective} ${e.blockedURI}`,
          ),
        ),
      );
      const page = await p.goto(`${full.url}/?store=demo`);
      expect(page?.headers()["content-security-policy"]).toMatch(/default-src 'self'/);
      await p.getByTestId("start").click();
      const problem = p.getByTestId("problem");
      await problem.waitFor({ timeout: 10_000 });
      expect(await problem.textContent()).toMatch(/busy.*try again in a moment/i);
      // The node's Retry-After holds the button, with the seconds left, then frees it.
      const retry = p.getByTestId("start");
      const wait = /Try again in (\d+) s/.exec((await retry.textContent()) ?? "");
      expect(wait).not.toBeNull();
      expect(await retry.isDisabled()).toBe(true);
      // The seconds it names pass (on the page's clock): the button is free again.
      await p.clock.fastForward(Number(wait![1]) * 1000);
      await expect.poll(() => retry.textContent(), { timeout: 15_000 }).toBe("Try again");
      expect(await retry.isDisabled()).toBe(false);
      expect(violations).toEqual([]);
    } finally {
      await occupant.close();
      await full.close();
    }
  }, 60_000);
});
