// The AI's side of the conversation in a real browser: the fake microphone
// plays a recording, a pause, then more speech. During the pause the page
// shows a follow-up question and receives the AI's voice (non-silent audio on
// the consumed track); when the customer speaks again the AI stops talking.
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { LIBRIVOX_DIR } from "@parley/loadtest";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";

let server: ParleyServer;
let browser: Browser | undefined;
const work = mkdtempSync(path.join(tmpdir(), "parley-conversation-"));

beforeAll(async () => {
  server = await startServer({ TURN_SILENCE_MS: "500", MAX_TURNS: "3" });
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await server?.close();
});

/** Samples the AI voice's level in the page every 20 ms, with the AI speech state at that time. */
async function meterAiVoice(page: Page): Promise<void> {
  await page.evaluate(() => {
    const audio = document.querySelector<HTMLAudioElement>('[data-testid="ai-voice"]')!;
    const levels: { at: number; rms: number; state: string }[] = [];
    (window as unknown as { __levels: typeof levels }).__levels = levels;
    const context = new AudioContext();
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    const buffer = new Float32Array(analyser.fftSize);
    let source: MediaStreamAudioSourceNode | undefined;
    setInterval(() => {
      if (!source && audio.srcObject) {
        source = context.createMediaStreamSource(audio.srcObject as MediaStream);
        source.connect(analyser);
      }
      analyser.getFloatTimeDomainData(buffer);
      let sum = 0;
      for (const v of buffer) sum += v * v;
      const state = document.querySelector<HTMLElement>('[data-testid="status"]')?.dataset.aiSpeech ?? "none";
      levels.push({ at: performance.now(), rms: Math.sqrt(sum / buffer.length), state });
    }, 20);
  });
}

describe("conversation with the AI in a real browser", () => {
  it("asks a follow-up aloud during the pause and stops when the customer talks again", async () => {
    // Speech, 3 s pause, speech: the AI starts talking in the pause and is cut off by the second part.
    const first = path.join(LIBRIVOX_DIR, "sense_and_sensibility_01_austen_64kb-0870.wav");
    const second = path.join(LIBRIVOX_DIR, "sense_and_sensibility_01_austen_64kb-0920.wav");
    const wav = path.join(work, "with-pause.wav");
    execFileSync("sox", [first, path.join(work, "a.wav"), "pad", "1.5", "3.2"]);
    execFileSync("sox", [second, path.join(work, "b.wav"), "pad", "0", "3"]);
    execFileSync("sox", [path.join(work, "a.wav"), path.join(work, "b.wav"), wav]);

    browser = await launchChromium({ microphoneWav: wav });
    const page = await browser.newPage();
    await page.goto(`${server.url}/?store=demo&audio=raw`);
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    await meterAiVoice(page);

    const question = page.getByTestId("question");
    await question.waitFor({ timeout: 20_000 });
    expect((await question.textContent())?.trim()).toMatch(/\?$/);
    const score = page.getByTestId("score");
    expect(Number(await score.getAttribute("data-score"))).toBeGreaterThan(0);

    await page
      .waitForFunction(
        () => document.querySelector<HTMLElement>('[data-testid="status"]')?.dataset.aiSpeech === "interrupted",
        undefined,
        { timeout: 20_000 },
      )
      .catch(async (error) => {
        const levels = await page.evaluate(
          () => (window as unknown as { __levels: { at: number; rms: number; state: string }[] }).__levels,
        );
        const t0 = levels[0]?.at ?? 0;
        const changes = levels.filter((l, i) => i === 0 || levels[i - 1]!.state !== l.state);
        console.log(
          "AI speech states:",
          changes.map((l) => `${((l.at - t0) / 1000).toFixed(2)}s ${l.state}`).join(", "),
        );
        console.log("transcript:", await page.getByTestId("transcript").textContent());
        throw error;
      });
    // Enough samples of the silence after the interruption (a busy renderer samples slower than every 20 ms).
    await page.waitForFunction(
      () => {
        const all = (window as unknown as { __levels: { at: number; state: string }[] }).__levels;
        const after = all.filter((l) => l.state === "interrupted");
        return after.filter((l) => l.at > after[0]!.at + 300).length > 5;
      },
      undefined,
      { timeout: 10_000 },
    );
    const levels = await page.evaluate(
      () => (window as unknown as { __levels: { at: number; rms: number; state: string }[] }).__levels,
    );
    const speaking = levels.filter((l) => l.state === "speaking");
    const afterStop = levels.filter((l) => l.state === "interrupted");
    const loudest = Math.max(...speaking.map((l) => l.rms));
    console.log(`AI voice: peak RMS ${loudest.toFixed(3)} while speaking (${speaking.length} samples)`);
    expect(loudest).toBeGreaterThan(0.01); // real sound reached the browser
    // 300 ms after the interruption the AI is silent.
    const stoppedAt = afterStop[0]!.at;
    const late = afterStop.filter((l) => l.at > stoppedAt + 300);
    expect(late.length).toBeGreaterThan(5);
    // The browser's packet-loss concealment fades out what it had buffered; what
    // is left is at least 20 dB under the AI's voice (speech would be far louder).
    const lateMax = Math.max(...late.map((l) => l.rms));
    console.log(`after the interruption: max RMS ${lateMax.toFixed(4)}`);
    expect(lateMax).toBeLessThan(Math.min(0.02, loudest / 10));
    // The app asks for Opus DTX: in the pauses the browser sent (almost)
    // nothing, and the node kept the audio timeline running itself.
    const [session] = server.sessions.all();
    expect(session?.media?.audioStats?.idleSamples ?? 0).toBeGreaterThan(16_000);

    await page.getByTestId("finish").click();
    await page.getByTestId("final-score").waitFor({ timeout: 15_000 });
    expect(await page.getByTestId("final-score").textContent()).toMatch(/Final score: \d+/);
  }, 90_000);
});
