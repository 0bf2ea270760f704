import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { SpeechActivity } from "../../src/dialogue/SpeechActivity.ts";
import { atLevel, backgroundNoise, LIBRIVOX_DIR, librivox, mixed, type NoiseColour, voiceRuns } from "./testAudio.ts";

const RATE = 16_000;
const FRAME = 320; // 20 ms

/** A sine tone whose RMS is `rms` (s16 units). */
function tone(ms: number, rms: number, hz = 1_000, phase0 = 0): Int16Array {
  const n = (ms * RATE) / 1_000;
  const amp = rms * Math.SQRT2;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amp * Math.sin(phase0 + (2 * Math.PI * hz * i) / RATE));
  return out;
}

/** Deterministic white-ish noise (xorshift) scaled to roughly `rms`. */
function noise(ms: number, rms: number, seed = 1): Int16Array {
  const n = (ms * RATE) / 1_000;
  const out = new Int16Array(n);
  let x = seed >>> 0 || 1;
  // Uniform in [-a, a] has RMS a/√3.
  const a = rms * Math.sqrt(3);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = Math.round(((x / 0xffffffff) * 2 - 1) * a);
  }
  return out;
}

const silence = (ms: number) => new Int16Array((ms * RATE) / 1_000);

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

interface Trace {
  /** Sample index (end of the chunk) at which push() returned true. */
  starts: number[];
  /** `speaking` after each 20 ms frame boundary (only exact when chunks align to frames). */
  speaking: boolean[];
}

/** Feeds `pcm` in chunks of `chunk` samples; records where push() returned true. */
function feed(vad: SpeechActivity, pcm: Int16Array, chunk = FRAME): Trace {
  const trace: Trace = { starts: [], speaking: [] };
  for (let at = 0; at < pcm.length; at += chunk) {
    const part = pcm.subarray(at, Math.min(pcm.length, at + chunk));
    if (vad.push(part)) trace.starts.push(at + part.length);
    trace.speaking.push(vad.speaking);
  }
  return trace;
}

describe("SpeechActivity", () => {
  it("never starts speech on silence", () => {
    const vad = new SpeechActivity();
    const trace = feed(vad, silence(5_000));
    expect(trace.starts).toEqual([]);
    expect(vad.speaking).toBe(false);
  });

  it("never starts speech on low noise below the absolute floor", () => {
    const vad = new SpeechActivity();
    const trace = feed(vad, noise(10_000, 300));
    expect(trace.starts).toEqual([]);
    expect(trace.speaking.every((s) => !s)).toBe(true);
  });

  it("declares speech on the 3rd loud 20 ms frame, and push returns true exactly once", () => {
    const vad = new SpeechActivity();
    const trace = feed(vad, concat(silence(200), tone(1_000, 3_000)));
    // Tone starts at frame 10; frames 10, 11, 12 are loud: speech on the frame ending at sample 13 × 320.
    expect(trace.starts).toEqual([13 * FRAME]);
    expect(trace.speaking[11]).toBe(false); // 2 loud frames are not enough
    expect(trace.speaking[12]).toBe(true);
    expect(vad.speaking).toBe(true);
  });

  it("does not start speech on a click shorter than the onset", () => {
    const vad = new SpeechActivity();
    const click = concat(tone(40, 5_000), silence(200));
    const trace = feed(vad, concat(silence(100), click, click, click));
    expect(trace.starts).toEqual([]);
    expect(vad.speaking).toBe(false);
  });

  it("honours a custom onset", () => {
    const vad = new SpeechActivity({ onsetFrames: 5 });
    const trace = feed(vad, tone(200, 3_000));
    expect(trace.starts).toEqual([5 * FRAME]);
  });

  it("keeps speaking through pauses shorter than the hangover, ends after it", () => {
    const vad = new SpeechActivity();
    // 14 quiet frames (280 ms) between words: under the 15-frame hangover.
    const words = concat(tone(300, 3_000), silence(280), tone(300, 3_000), silence(280), tone(300, 3_000));
    const trace = feed(vad, words);
    expect(trace.starts).toEqual([3 * FRAME]);
    expect(trace.speaking.slice(2).every(Boolean)).toBe(true);

    // Now 15 quiet frames: speech is over on the 15th, not before.
    const quiet = feed(vad, silence(300));
    expect(quiet.speaking.slice(0, 14).every(Boolean)).toBe(true);
    expect(quiet.speaking[14]).toBe(false);
    expect(quiet.starts).toEqual([]);
  });

  it("reports a new onset after speech ended", () => {
    const vad = new SpeechActivity();
    const a = feed(vad, concat(tone(200, 3_000), silence(400)));
    expect(a.starts).toHaveLength(1);
    expect(vad.speaking).toBe(false);
    const b = feed(vad, tone(200, 3_000));
    expect(b.starts).toEqual([3 * FRAME]);
    expect(vad.speaking).toBe(true);
  });

  it("returns true once per onset across several utterances", () => {
    const vad = new SpeechActivity();
    const utterance = concat(tone(500, 4_000), silence(600));
    const trace = feed(vad, concat(utterance, utterance, utterance));
    expect(trace.starts).toHaveLength(3);
  });

  it("adapts to steady background noise: a level that would trigger on a quiet line does not trigger on a noisy one", () => {
    // On a quiet line, RMS 1200 is speech (threshold = minRms 500).
    const quietLine = new SpeechActivity();
    expect(feed(quietLine, concat(silence(1_000), noise(500, 1_200, 7))).starts).toHaveLength(1);

    // After seconds of steady noise at RMS 450, the threshold is ~4 × 450 = 1800.
    const noisyLine = new SpeechActivity();
    const background = feed(noisyLine, noise(5_000, 450, 3));
    expect(background.starts).toEqual([]);
    expect(feed(noisyLine, noise(500, 1_200, 7)).starts).toEqual([]);
    expect(noisyLine.speaking).toBe(false);
    // Real speech well above the noise still starts.
    expect(feed(noisyLine, tone(200, 5_000)).starts).toHaveLength(1);
  });

  it("follows background noise that rises slowly without declaring speech", () => {
    const vad = new SpeechActivity();
    const steps: Int16Array[] = [];
    // 300 → 1500 RMS over 12 s, in 200 ms steps of +20.
    for (let rms = 300; rms <= 1_500; rms += 20) steps.push(noise(200, rms, rms));
    const trace = feed(vad, concat(...steps));
    expect(trace.starts).toEqual([]);
    expect(vad.speaking).toBe(false);
    // A loud voice still gets through.
    expect(feed(vad, tone(200, 10_000)).starts).toHaveLength(1);
  });

  it("gives the same result for chunk sizes that are not multiples of 320 samples", () => {
    const signal = concat(silence(330), tone(400, 3_000), silence(500), tone(250, 2_500, 440), silence(700));
    const reference = feed(new SpeechActivity(), signal, FRAME);
    expect(reference.starts).toHaveLength(2);
    for (const chunk of [1, 7, 100, 161, 333, 500, 1_000, 4_801]) {
      const vad = new SpeechActivity();
      const trace = feed(vad, signal, chunk);
      expect(trace.starts, `chunk ${chunk}`).toHaveLength(2);
      // Each onset is reported on the chunk holding the end of the onset frame.
      for (const [i, sample] of reference.starts.entries()) {
        const at = trace.starts[i]!;
        expect(at, `chunk ${chunk}`).toBeGreaterThanOrEqual(sample);
        expect(at - sample, `chunk ${chunk}`).toBeLessThan(chunk);
      }
      expect(vad.speaking).toBe(false);
    }
  });

  it("returns true for a single chunk holding the whole onset, and only once", () => {
    const vad = new SpeechActivity();
    expect(vad.push(tone(1_000, 3_000))).toBe(true);
    expect(vad.push(tone(1_000, 3_000))).toBe(false);
    expect(vad.speaking).toBe(true);
  });

  it("treats a partial frame as not yet heard", () => {
    const vad = new SpeechActivity();
    // 3 frames minus one sample: the 3rd frame is incomplete.
    expect(vad.push(tone(60, 3_000).subarray(0, 3 * FRAME - 1))).toBe(false);
    expect(vad.speaking).toBe(false);
    expect(vad.push(new Int16Array([3_000]))).toBe(true);
  });

  it("marks the end of the last voiced frame; clicks before an onset are not voice", () => {
    const vad = new SpeechActivity();
    feed(vad, concat(silence(100), tone(40, 5_000), silence(200)));
    expect(vad.lastVoicedSample).toBe(-1);
    feed(vad, concat(tone(300, 3_000), silence(500)));
    // The tone covered frames 18..32 of everything fed (340 ms in).
    expect(vad.lastVoicedSample).toBe((340 + 300) * 16);
    expect(vad.samples).toBe((340 + 300 + 500) * 16);
  });

  it("counts a single loud frame inside speech as voice (the onset is only for starting)", () => {
    const vad = new SpeechActivity();
    feed(vad, concat(tone(200, 3_000), silence(100), tone(20, 3_000), silence(100)));
    expect(vad.lastVoicedSample).toBe((200 + 100 + 20) * 16);
  });

  // Regression: the noise floor learnt from every frame under the threshold,
  // soft syllables included, so it climbed into the voice during a long
  // sentence and the end of the sentence went unheard.
  it("does not let soft syllables raise the noise floor: the end of a long sentence is still voice", () => {
    const vad = new SpeechActivity();
    const syllables: Int16Array[] = [silence(300)];
    for (let i = 0; i < 25; i++) syllables.push(tone(160, 3_000, 1_000, i), tone(100, 420, 700, i));
    const sentenceEndsAt = (300 + 25 * 260 + 200) * 16;
    feed(vad, concat(...syllables, tone(200, 900), silence(600)));
    expect(vad.lastVoicedSample).toBe(sentenceEndsAt);
  });

  it.each(readdirSync("/usr/share/pocketsphinx/test/data/librivox").filter((f) => f.endsWith(".wav")))(
    "hears real speech to its end: %s",
    (file) => {
      const raw = execFileSync("sox", [
        path.join("/usr/share/pocketsphinx/test/data/librivox", file),
        ...["-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"],
      ]);
      const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
      // The recording's last 20 ms frame at −40 dBFS or louder.
      let lastSpeech = 0;
      for (let at = 0; at + FRAME <= pcm.length; at += FRAME) {
        let energy = 0;
        for (let i = at; i < at + FRAME; i++) energy += pcm[i]! * pcm[i]!;
        if (Math.sqrt(energy / FRAME) >= 328) lastSpeech = at + FRAME;
      }
      const vad = new SpeechActivity();
      feed(vad, pcm);
      expect(vad.lastVoicedSample).toBeGreaterThan(lastSpeech - 250 * 16);
      expect(vad.lastVoicedSample).toBeLessThanOrEqual(lastSpeech);
    },
  );
});

// Regression: the noise floor learnt only from frames already called quiet, so
// a background above the absolute floor (−36 dBFS: a store's music or fridges
// that the browser's noise suppression leaves) was speech forever: every AI
// question was barged in on and the customer's turn never ended.
describe("SpeechActivity on a line with steady background noise", () => {
  /** How long a detector may take the start of a steady background for voice. */
  const ADAPT_MS = 3_000;
  const LEVELS = [-50, -45, -40, -35, -30];
  const COLOURS: NoiseColour[] = ["white", "pink"];
  const cases = COLOURS.flatMap((colour) => LEVELS.map((dbfs) => [colour, dbfs] as const));

  it.each(cases)("%s noise at %d dBFS alone is no voice after the first seconds", (colour, dbfs) => {
    const vad = new SpeechActivity();
    const trace = feed(vad, backgroundNoise(15_000, dbfs, colour, 11));
    const adapted = (ADAPT_MS * RATE) / 1_000 / FRAME;
    expect(trace.starts.filter((at) => at > adapted * FRAME)).toEqual([]);
    expect(trace.speaking.slice(adapted).some(Boolean)).toBe(false);
    expect(vad.loud).toBe(false);
  });

  const SPEECH_DBFS = -20; // a customer at the microphone, after the browser's gain control
  const LEAD_MS = 4_000; // noise before the voice: the detector has learnt it
  const files = readdirSync(LIBRIVOX_DIR).filter((f) => f.endsWith(".wav"));

  /** `file` at SPEECH_DBFS over LEAD_MS of noise and 3 s more, through a new detector. */
  function hear(file: string, colour: NoiseColour, dbfs: number) {
    const voice = atLevel(librivox(file), SPEECH_DBFS);
    const lead = (LEAD_MS * RATE) / 1_000;
    const line = mixed(backgroundNoise(LEAD_MS + voice.length / 16 + 3_000, dbfs, colour, 5), voice, lead);
    const vad = new SpeechActivity();
    const trace = feed(vad, line);
    const audible = voiceRuns(voice, -40, 1);
    const clear = voiceRuns(voice, dbfs + 12);
    return {
      vad,
      /** Onsets after the detector had the time to learn the noise. */
      starts: trace.starts.filter((at) => at > (ADAPT_MS * RATE) / 1_000),
      /** The recording's voice, on the line's clock. */
      audible: { first: lead + audible.first, end: lead + audible.end },
      /** Where the voice stands the detector's margin (12 dB) above the noise for an onset's length. */
      clear: { first: lead + clear.first, end: lead + clear.end },
    };
  }

  it.each(
    files.flatMap((file) => COLOURS.flatMap((colour) => [-45, -35].map((dbfs) => [file, colour, dbfs] as const))),
  )("hears %s over %s noise at %d dBFS from its start to its end", (file, colour, dbfs) => {
    const { vad, starts, audible, clear } = hear(file, colour, dbfs);
    expect(starts.length).toBeGreaterThan(0);
    expect(starts[0]).toBeGreaterThan(audible.first); // nothing before the voice…
    expect(starts[0]).toBeLessThanOrEqual(clear.first + 3 * FRAME); // …and its onset heard
    expect(vad.speaking).toBe(false); // the noise after it is not voice
    expect(vad.lastVoicedSample).toBeGreaterThan(clear.end - 250 * 16); // heard to its end…
    expect(vad.lastVoicedSample).toBeLessThanOrEqual(audible.end); // …not past it
  });

  // 10 dB under the voice, what the floor learns in the pauses climbs into
  // the softer words (as it always did): only the start and an end are sure.
  it.each(files.flatMap((file) => COLOURS.map((colour) => [file, colour] as const)))(
    "finds where %s over %s noise at -30 dBFS starts and that it ends",
    (file, colour) => {
      const { vad, starts, audible, clear } = hear(file, colour, -30);
      expect(starts.length).toBeGreaterThan(0);
      expect(starts[0]).toBeGreaterThan(audible.first);
      expect(starts[0]).toBeLessThanOrEqual(clear.first + 3 * FRAME);
      expect(vad.speaking).toBe(false);
      expect(vad.lastVoicedSample).toBeGreaterThan(starts[0]!);
      expect(vad.lastVoicedSample).toBeLessThanOrEqual(audible.end);
    },
  );
});
