// espeak-ng, the voice of the questions in languages other than English: the
// real program, its 22050 Hz output resampled to 16 kHz, under the same
// deadline and run limits as flite (stand-in programs and a held launcher).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { EspeakTts, primaryLanguage } from "../../src/tts/EspeakTts.ts";
import { resample } from "../../src/tts/resample.ts";
import { wavAudio } from "../../src/tts/wav.ts";
import { alive, expectNoWavAfterAbort, HeldLauncher, peak, programFolder, ramp, rms, wav } from "./support.ts";

const SWEDISH = "Ungefär hur länge fick du vänta?";

/** Stand-in programs for espeak-ng, written to a folder of this test file's own. */
const folder = programFolder("parley-espeak-test-");
const { dir: scripts, script } = folder;

describe("wavAudio", () => {
  it("reads a mono 16-bit WAV at any rate, and says the rate", () => {
    const samples = ramp(441);
    const audio = wavAudio(wav(samples, { rate: 22_050 }));
    expect(audio.rate).toBe(22_050);
    expect(Array.from(audio.samples)).toEqual(Array.from(samples));
  });

  it("refuses stereo and 8-bit WAVs, and a rate other than the one asked for", () => {
    expect(() => wavAudio(wav(ramp(64), { rate: 22_050, channels: 2 }))).toThrow(
      /expected mono 16-bit WAV, got .*"channels":2/,
    );
    expect(() => wavAudio(wav(ramp(64), { bits: 8 }))).toThrow(/expected mono 16-bit WAV/);
    expect(() => wavAudio(wav(ramp(64), { rate: 22_050 }), 16_000)).toThrow(/expected 16 kHz mono 16-bit WAV/);
  });
});

describe("primaryLanguage", () => {
  it("is the primary subtag of a BCP 47 tag, lower case, or nothing that could not name a voice", () => {
    expect(primaryLanguage("sv-SE")).toBe("sv");
    expect(primaryLanguage("SV")).toBe("sv");
    expect(primaryLanguage(" nb_NO ")).toBe("nb");
    expect(primaryLanguage("yue-HK")).toBe("yue");
    expect(primaryLanguage(undefined)).toBeUndefined();
    expect(primaryLanguage("")).toBeUndefined();
    expect(primaryLanguage("../../etc/passwd")).toBeUndefined();
    expect(primaryLanguage("-v")).toBeUndefined();
    expect(primaryLanguage("s")).toBeUndefined();
  });
});

describe("EspeakTts (the real espeak-ng binary)", () => {
  it("is named after its program", () => {
    expect(new EspeakTts().name).toBe("espeak-ng");
  });

  it("synthesises a Swedish question into non-silent 16 kHz PCM of plausible length", async () => {
    const tts = new EspeakTts();
    try {
      const pcm = await tts.synthesize(SWEDISH, undefined, "sv-SE");
      expect(pcm).toBeInstanceOf(Int16Array);
      const seconds = pcm.length / 16_000;
      expect(seconds).toBeGreaterThan(1);
      expect(seconds).toBeLessThan(5);
      expect(rms(pcm)).toBeGreaterThan(300);
      expect(peak(pcm)).toBeGreaterThan(3_000);
    } finally {
      tts.close();
    }
  });

  it("is espeak-ng's own 22050 Hz speech in the language's voice, resampled to 16 kHz", async () => {
    const tts = new EspeakTts();
    try {
      const pcm = await tts.synthesize(SWEDISH, undefined, "sv-SE");
      const direct = wavAudio(execFileSync("espeak-ng", ["-v", "sv", "--stdout", SWEDISH]));
      expect(direct.rate).toBe(22_050);
      expect(pcm.length).toBe(Math.ceil((direct.samples.length * 320) / 441));
      expect(Array.from(pcm)).toEqual(Array.from(resample(direct.samples, 22_050, 16_000)));
    } finally {
      tts.close();
    }
  });

  it("speaks each language in its own voice, English when none is given", async () => {
    const tts = new EspeakTts();
    try {
      const swedish = await tts.synthesize(SWEDISH, undefined, "sv");
      const german = await tts.synthesize(SWEDISH, undefined, "de-DE");
      const english = await tts.synthesize(SWEDISH);
      expect(Array.from(german)).not.toEqual(Array.from(swedish));
      expect(Array.from(english)).not.toEqual(Array.from(swedish));
      expect(Array.from(await tts.synthesize(SWEDISH, undefined, "en"))).toEqual(Array.from(english));
    } finally {
      tts.close();
    }
  });

  it("passes text starting with a dash as text, not as an option", async () => {
    const tts = new EspeakTts();
    try {
      const pcm = await tts.synthesize("-w är inte en flagga här", undefined, "sv");
      expect(pcm.length / 16_000).toBeGreaterThan(0.5);
    } finally {
      tts.close();
    }
  });

  it("fails a language it has no voice for, and a tag that names none, as synthesis failures", async () => {
    const tts = new EspeakTts();
    try {
      await expect(tts.synthesize("hej", undefined, "xx")).rejects.toMatchObject({
        name: "SynthesisError",
        reason: "failed",
      });
      await expect(tts.synthesize("hej", undefined, "../sv")).rejects.toMatchObject({
        name: "SynthesisError",
        reason: "failed",
      });
    } finally {
      tts.close();
    }
  });

  it("tells which languages it has a voice for, and why not", async () => {
    const tts = new EspeakTts();
    try {
      expect(await tts.voiceFor("sv-SE")).toEqual({ found: true, voice: "sv" });
      expect(await tts.voiceFor("nb-NO")).toEqual({ found: true, voice: "nb" });
      expect(await tts.voiceFor("xx")).toEqual({ found: false, why: expect.stringMatching(/no voice for "xx"/) });
      expect(await tts.voiceFor("../sv")).toEqual({ found: false, why: expect.stringMatching(/names no language/) });
    } finally {
      tts.close();
    }
    const missing = new EspeakTts({ program: path.join(scripts, "no-such-espeak-ng") });
    expect(await missing.voiceFor("sv-SE")).toEqual({ found: false, why: expect.stringMatching(/is not installed/) });
    missing.close();
  });

  it("rejects when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const tts = new EspeakTts();
    await expect(tts.synthesize("hej", controller.signal, "sv")).rejects.toMatchObject({ name: "AbortError" });
    await expect(tts.voiceFor("sv", controller.signal)).rejects.toMatchObject({ name: "AbortError" });
    tts.close();
  });

  it("rejects when aborted during synthesis", async () => {
    const controller = new AbortController();
    const text = "Kan du berätta vad som hände, steg för steg, från att du kom in tills du gick? ".repeat(200);
    const tts = new EspeakTts();
    const result = tts.synthesize(text, controller.signal, "sv");
    controller.abort();
    await expect(result).rejects.toMatchObject({ name: "AbortError" });
    tts.close();
  });
});

describe("EspeakTts limits", () => {
  it("fails a synthesis that outlives its deadline as a timeout, and kills the stalled program", async () => {
    const pidFile = path.join(scripts, "stalled.pid");
    const stalled = script("stalled-espeak", `echo $$ > "${pidFile}"\nexec sleep 30`);
    const tts = new EspeakTts({ program: stalled, deadlineMs: 3_000 });
    try {
      await expect(tts.synthesize("hej", undefined, "sv")).rejects.toMatchObject({
        name: "SynthesisError",
        reason: "timeout",
      });
      const pid = Number(readFileSync(pidFile, "utf8"));
      await expect.poll(() => alive(pid)).toBe(false);
    } finally {
      tts.close();
    }
  });

  it("fails a voice check that outlives its deadline as a timeout too", async () => {
    const stalled = script("stalled-espeak-check", "exec sleep 30");
    const tts = new EspeakTts({ program: stalled, deadlineMs: 1_000 });
    try {
      await expect(tts.voiceFor("sv")).rejects.toMatchObject({ name: "SynthesisError", reason: "timeout" });
    } finally {
      tts.close();
    }
  });

  it("still reports the caller's abort as an AbortError, not a failure", async () => {
    const launcher = new HeldLauncher("-w", 22_050);
    const tts = new EspeakTts({ launcher, deadlineMs: 60_000 });
    const controller = new AbortController();
    const pending = tts.synthesize("hej", controller.signal, "sv");
    await expect.poll(() => launcher.runs.length).toBe(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });

  it("runs at most maxRunning at once, lets maxWaiting wait, and refuses the rest at once as busy", async () => {
    const launcher = new HeldLauncher("-w", 22_050, ramp(441));
    const tts = new EspeakTts({ launcher, maxRunning: 2, maxWaiting: 1, deadlineMs: 60_000 });
    const texts = ["ett", "två", "tre"];
    const pending = texts.map((text) => tts.synthesize(text, undefined, "sv-SE"));
    await expect.poll(() => launcher.runs.length).toBe(2);
    await expect(tts.synthesize("fyra", undefined, "sv-SE")).rejects.toMatchObject({
      name: "SynthesisError",
      reason: "busy",
    });
    // The first two in, in either order: each makes its work folder before its run starts.
    expect(launcher.runs.map((r) => r.args.at(-1)).sort()).toEqual(["ett", "två"]);
    expect(launcher.runs[0]!.args.slice(0, 2)).toEqual(["-v", "sv"]);
    launcher.runs[0]!.answer();
    await expect.poll(() => launcher.runs.length).toBe(3); // the waiting one starts when a run ends
    expect(launcher.runs[2]!.args.at(-1)).toBe("tre");
    launcher.runs[1]!.answer();
    launcher.runs[2]!.answer();
    // 441 samples at 22050 Hz are 320 at 16 kHz.
    const expected = Array.from(resample(ramp(441), 22_050, 16_000));
    for (const pcm of await Promise.all(pending)) {
      expect(pcm.length).toBe(320);
      expect(Array.from(pcm)).toEqual(expected);
    }
  });

  it("leaves no WAV behind when the program writes it after an abort", () =>
    expectNoWavAfterAbort(folder, "-w", (program, signal) => {
      const tts = new EspeakTts({ program, deadlineMs: 60_000 });
      return { tts, pending: tts.synthesize("hej där", signal, "sv") };
    }));
});
