// Turn-taking in a real browser: Chromium's fake microphone plays a flite
// recording made at test time. One pauses for a second three times in the
// middle of its sentence ("the coffee was … um … cold, and … nobody at the
// counter noticed it"): the AI must not put a question on screen before the
// customer's last word. One ends cleanly: the AI asks, aloud. The page meters
// its own microphone and the AI's voice, so the time from the customer's last
// speech to the AI's voice arriving is printed (not asserted: a busy machine
// may be slow).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { makeTurnRecordings, type TurnRecording } from "@parley/loadtest";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { launchChromium } from "./browser.ts";
import { startServer } from "./harness.ts";

const LEAD_S = 1.5; // signalling finishes before the customer speaks
const TAIL_S = 5; // a dangling end waits 2 s; the AI answers in here
/** −40 dBFS: the level the recordings' last voiced frame is measured at. */
const SPEECH_LEVEL = 0.01;

let server: ParleyServer;
let recordings: TurnRecording[];
const work = mkdtempSync(path.join(tmpdir(), "parley-turns-"));

beforeAll(async () => {
  server = await startServer(); // the configured defaults: these are what customers get
  recordings = makeTurnRecordings(path.join(work, "recordings"));
}, 60_000);
afterAll(async () => {
  await server?.close();
});

interface PageLog {
  /** Page time (ms) of every level sample at or above SPEECH_LEVEL on the microphone. */
  micSpeech: number[];
  /** Page time (ms) of every level sample at or above SPEECH_LEVEL on the AI's voice. */
  aiVoice: number[];
  /** Page time (ms) and text of every question shown. */
  questions: { at: number; text: string }[];
  /** Page time (ms) and text of every change of the transcript on screen. */
  transcript: { at: number; text: string }[];
}

/** Keeps the microphone stream the app opens, meters it and the AI's voice, and notes every question shown. */
async function instrument(page: Page): Promise<void> {
  await page.addInitScript((speechLevel) => {
    const log: PageLog = { micSpeech: [], aiVoice: [], questions: [], transcript: [] };
    (window as unknown as { __turns: PageLog }).__turns = log;
    const open = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    let mic: MediaStream | undefined;
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      mic = await open(constraints);
      return mic;
    };
    const level = (analyser: AnalyserNode, buffer: Float32Array<ArrayBuffer>) => {
      analyser.getFloatTimeDomainData(buffer);
      let sum = 0;
      for (const v of buffer) sum += v * v;
      return Math.sqrt(sum / buffer.length);
    };
    let context: AudioContext | undefined;
    const meters: { analyser: AnalyserNode; buffer: Float32Array<ArrayBuffer>; into: number[] }[] = [];
    let aiSource: MediaStream | undefined;
    const meter = (stream: MediaStream, into: number[]) => {
      context ??= new AudioContext();
      const analyser = context.createAnalyser();
      analyser.fftSize = 512; // ~11 ms at 48 kHz
      context.createMediaStreamSource(stream).connect(analyser);
      meters.push({ analyser, buffer: new Float32Array(analyser.fftSize), into });
    };
    let meteringMic = false;
    setInterval(() => {
      if (mic && !meteringMic) {
        meteringMic = true;
        meter(mic, log.micSpeech);
      }
      const audio = document.querySelector<HTMLAudioElement>('[data-testid="ai-voice"]');
      if (audio?.srcObject && audio.srcObject !== aiSource) {
        aiSource = audio.srcObject as MediaStream;
        meter(aiSource, log.aiVoice);
      }
      const now = performance.now();
      for (const m of meters) if (level(m.analyser, m.buffer) >= speechLevel) m.into.push(now);
    }, 10);
    new MutationObserver(() => {
      const text = document.querySelector('[data-testid="question"]')?.textContent?.trim();
      if (text && log.questions.at(-1)?.text !== text) log.questions.push({ at: performance.now(), text });
      const words = document.querySelector('[data-testid="transcript"]')?.textContent?.trim();
      if (words && log.transcript.at(-1)?.text !== words) log.transcript.push({ at: performance.now(), text: words });
    }).observe(document, { subtree: true, childList: true, characterData: true });
  }, SPEECH_LEVEL);
}

/** Plays `recording` into the app and returns what the page saw. */
async function converse(recording: TurnRecording): Promise<PageLog> {
  const wav = path.join(work, `${recording.id}-mic.wav`);
  execFileSync("sox", [recording.wav, wav, "pad", String(LEAD_S), String(TAIL_S)]);
  const browser = await launchChromium({ microphoneWav: wav });
  try {
    const page = await browser.newPage();
    await instrument(page);
    await page.goto(`${server.url}/?store=demo&audio=raw`);
    await page.getByTestId("start").click();
    await page.getByTestId("status").filter({ hasText: "Listening" }).waitFor({ timeout: 10_000 });
    // The whole recording and its tail, plus a margin for a slow start of the fake microphone.
    await page.waitForTimeout((LEAD_S + recording.seconds + TAIL_S + 1) * 1000);
    // A busy machine may answer later than the tail: wait for the AI's voice after the last speech
    // (or give up, and let the assertions say what the page saw).
    await page
      .waitForFunction(
        () => {
          const turns = (window as unknown as { __turns: PageLog }).__turns;
          const last = turns.micSpeech.at(-1);
          return last !== undefined && turns.aiVoice.some((at) => at > last);
        },
        undefined,
        { timeout: 30_000 },
      )
      .catch(() => {});
    return await page.evaluate(() => (window as unknown as { __turns: PageLog }).__turns);
  } finally {
    await browser.close();
  }
}

function report(recording: TurnRecording, log: PageLog): { lastSpeechAt: number } {
  const lastSpeechAt = log.micSpeech.at(-1);
  if (lastSpeechAt === undefined) throw new Error(`${recording.id}: the page never heard its microphone`);
  const firstAiVoice = log.aiVoice.find((at) => at > lastSpeechAt);
  console.log(
    `${recording.id}: questions ${JSON.stringify(log.questions.map((q) => ({ afterLastSpeechMs: Math.round(q.at - lastSpeechAt), text: q.text })))}; ` +
      `customer's last speech → AI's voice at the page: ${firstAiVoice === undefined ? "none" : `${Math.round(firstAiVoice - lastSpeechAt)} ms`}\n${timeline(log)}`,
  );
  return { lastSpeechAt };
}

/**
 * What the page saw, in ms from the customer's first speech: the bursts of
 * microphone speech, every transcript change and every question. Printed
 * when an assertion fails, so that a failure on a machine nobody watches
 * says which pause the AI cut into and what the recogniser had heard.
 */
function timeline(log: PageLog): string {
  const t0 = log.micSpeech[0] ?? 0;
  const ms = (at: number) => Math.round(at - t0);
  const bursts: string[] = [];
  let start = log.micSpeech[0];
  for (let i = 1; i <= log.micSpeech.length; i++) {
    const at = log.micSpeech[i];
    const previous = log.micSpeech[i - 1]!;
    if (at === undefined || at - previous > 300) {
      bursts.push(`${ms(start!)}–${ms(previous)}`);
      start = at;
    }
  }
  const lines = [
    `microphone speech: ${bursts.join(", ")}`,
    ...log.transcript.map((c) => `${ms(c.at)} transcript: ${c.text}`),
    ...log.questions.map((q) => `${ms(q.at)} question: ${q.text}`),
  ];
  return lines.join("\n");
}

describe("turn-taking in a real browser", () => {
  it("asks nothing during a customer's pauses mid-sentence, and asks once they finished", async () => {
    const recording = recordings.find((r) => r.id === "flite-paused-1")!;
    expect(recording.innerPauses).toBe(3);
    const log = await converse(recording);
    const { lastSpeechAt } = report(recording, log);
    // The microphone really paused: silences of about a second between the pieces.
    const gaps = log.micSpeech.slice(1).map((at, i) => at - log.micSpeech[i]!);
    expect(
      gaps.filter((gap) => gap > 800),
      timeline(log),
    ).toHaveLength(3);
    // No question before the last word; one after it.
    expect(
      log.questions.filter((q) => q.at < lastSpeechAt),
      timeline(log),
    ).toEqual([]);
    expect(log.questions.length).toBeGreaterThanOrEqual(1);
    expect(log.aiVoice.some((at) => at > lastSpeechAt)).toBe(true);
  }, 90_000);

  it("asks a follow-up aloud after a sentence that ends cleanly", async () => {
    const recording = recordings.find((r) => r.id === "flite-clean-1")!;
    const log = await converse(recording);
    const { lastSpeechAt } = report(recording, log);
    expect(
      log.questions.filter((q) => q.at < lastSpeechAt),
      timeline(log),
    ).toEqual([]);
    expect(log.questions).toHaveLength(1);
    expect(log.questions[0]!.text).toMatch(/\?$/);
    expect(log.aiVoice.some((at) => at > lastSpeechAt)).toBe(true);
  }, 90_000);
});
