import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FliteTts, wavSamples } from "../../src/tts/FliteTts.ts";
import {
  alive,
  chunk,
  expectNoWavAfterAbort,
  HeldLauncher,
  peak,
  programFolder,
  ramp,
  rms,
  type WavOptions,
  wav,
} from "./support.ts";

describe("wavSamples", () => {
  it("returns the samples of a 16 kHz mono 16-bit WAV", () => {
    const samples = ramp(1_000);
    expect(Array.from(wavSamples(wav(samples)))).toEqual(Array.from(samples));
  });

  it("skips other chunks, including odd-sized ones with their pad byte", () => {
    const samples = ramp(321);
    const file = wav(samples, {
      before: [chunk("JUNK", Buffer.alloc(5, 0xaa))],
      between: [chunk("LIST", Buffer.from("INFOISFT\x03\x00\x00\x00ab\x00")), chunk("fact", Buffer.alloc(4))],
    });
    expect(Array.from(wavSamples(file))).toEqual(Array.from(samples));
  });

  it("reads what is there when the data size is unknown (streamed WAV), never half a sample", () => {
    const samples = ramp(100);
    const file = wav(samples, { dataSize: 0xffffffff });
    expect(Array.from(wavSamples(file))).toEqual(Array.from(samples));
    // Truncated in the middle of a sample: the odd byte is dropped.
    const cut = file.subarray(0, file.length - 1);
    expect(Array.from(wavSamples(cut))).toEqual(Array.from(samples.subarray(0, 99)));
  });

  it("returns an empty array for an empty data chunk", () => {
    expect(wavSamples(wav(new Int16Array(0)))).toHaveLength(0);
  });

  it("rejects data that is not a WAV file", () => {
    expect(() => wavSamples(Buffer.from("ID3\x03\x00 this is an mp3, honest"))).toThrow("not a WAV file");
    expect(() => wavSamples(Buffer.alloc(0))).toThrow("not a WAV file");
    const avi = wav(ramp(10));
    avi.write("AVI ", 8, "ascii");
    expect(() => wavSamples(avi)).toThrow("not a WAV file");
  });

  it.each([
    ["8 kHz", { rate: 8_000 }, '"rate":8000'],
    ["48 kHz", { rate: 48_000 }, '"rate":48000'],
    ["stereo", { channels: 2 }, '"channels":2'],
    ["8-bit", { bits: 8 }, '"bits":8'],
  ] satisfies [string, WavOptions, string][])("rejects a %s WAV and says what it got", (_, options, got) => {
    const file = wav(ramp(64), options);
    expect(() => wavSamples(file)).toThrow(/expected 16 kHz mono 16-bit WAV/);
    expect(() => wavSamples(file)).toThrow(got);
  });

  it("rejects a data chunk that comes before any fmt chunk", () => {
    const file = wav(ramp(8), { noData: true });
    const bad = Buffer.concat([file.subarray(0, 12), chunk("data", Buffer.alloc(16)), file.subarray(12)]);
    expect(() => wavSamples(bad)).toThrow(/expected 16 kHz mono 16-bit WAV/);
  });

  it("rejects a WAV without a data chunk", () => {
    expect(() => wavSamples(wav(ramp(8), { noData: true }))).toThrow("WAV file has no data chunk");
  });

  // The samples are a copy, not a view of the caller's buffer.
  it("returns samples that do not alias the input buffer", () => {
    const file = wav(ramp(16));
    const samples = wavSamples(file);
    const before = samples[0];
    file.fill(0, 44);
    expect(samples[0]).toBe(before);
  });

  // A WAV held at an odd byte offset (a view into a larger buffer) still parses.
  it("parses a WAV that starts at an odd byte offset of its ArrayBuffer", () => {
    const samples = ramp(16);
    const file = wav(samples);
    const backing = Buffer.alloc(file.length + 1);
    file.copy(backing, 1);
    expect(Array.from(wavSamples(backing.subarray(1)))).toEqual(Array.from(samples));
  });
});

describe("FliteTts (the real flite binary)", () => {
  it("is named after its voice", () => {
    expect(new FliteTts().name).toBe("flite:slt");
    expect(new FliteTts("awb").name).toBe("flite:awb");
  });

  it("synthesises a question into non-silent 16 kHz PCM of plausible length", async () => {
    const pcm = await new FliteTts().synthesize("Roughly how long did you have to wait?");
    expect(pcm).toBeInstanceOf(Int16Array);
    const seconds = pcm.length / 16_000;
    expect(seconds).toBeGreaterThan(0.5);
    expect(seconds).toBeLessThan(10);
    expect(rms(pcm)).toBeGreaterThan(300);
    expect(peak(pcm)).toBeGreaterThan(3_000);
  });

  it("takes longer to say more words", async () => {
    const tts = new FliteTts();
    const short = await tts.synthesize("Thanks.");
    const long = await tts.synthesize("What did you order, and roughly what time was it when you came in today?");
    expect(long.length).toBeGreaterThan(short.length * 2);
  });

  it("passes text starting with a dash as text, not as an option", async () => {
    const pcm = await new FliteTts().synthesize("-o is not an option here");
    expect(pcm.length / 16_000).toBeGreaterThan(0.5);
  });

  it("rejects a voice that is not 16 kHz with a clear error", async () => {
    // Debian's "kal" voice speaks at 8 kHz.
    await expect(new FliteTts("kal").synthesize("hello")).rejects.toThrow(/expected 16 kHz mono 16-bit WAV/);
  });

  it("rejects when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(new FliteTts().synthesize("hello there", controller.signal)).rejects.toMatchObject({
      name: "AbortError",
    });
  });

  it("rejects when aborted during synthesis", async () => {
    const controller = new AbortController();
    const text = "Can you walk me through what happened, step by step, from walking in to leaving? ".repeat(200);
    const result = new FliteTts().synthesize(text, controller.signal);
    controller.abort();
    await expect(result).rejects.toMatchObject({ name: "AbortError" });
  });
});

/** Stand-in programs for flite, written to a folder of this test file's own. */
const folder = programFolder("parley-flite-test-");
const { dir: scripts, script } = folder;

describe("FliteTts limits", () => {
  it("fails a synthesis that outlives its deadline as a timeout, and kills the stalled program", async () => {
    const pidFile = path.join(scripts, "stalled.pid");
    const stalled = script("stalled-flite", `echo $$ > "${pidFile}"\nexec sleep 30`);
    const tts = new FliteTts("slt", { program: stalled, deadlineMs: 3_000 });
    try {
      await expect(tts.synthesize("hello there")).rejects.toMatchObject({ name: "SynthesisError", reason: "timeout" });
      const pid = Number(readFileSync(pidFile, "utf8"));
      await expect.poll(() => alive(pid)).toBe(false);
    } finally {
      tts.close();
    }
  });

  it("still reports the caller's abort as an AbortError, not a failure", async () => {
    const launcher = new HeldLauncher();
    const tts = new FliteTts("slt", { launcher, deadlineMs: 60_000 });
    const controller = new AbortController();
    const pending = tts.synthesize("hello", controller.signal);
    await expect.poll(() => launcher.runs.length).toBe(1);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });

  it("runs at most maxRunning at once, lets maxWaiting wait, and refuses the rest at once as busy", async () => {
    const launcher = new HeldLauncher();
    const tts = new FliteTts("slt", { launcher, maxRunning: 2, maxWaiting: 1, deadlineMs: 60_000 });
    const texts = ["one", "two", "three"];
    const pending = texts.map((text) => tts.synthesize(text));
    await expect.poll(() => launcher.runs.length).toBe(2);
    await expect(tts.synthesize("four")).rejects.toMatchObject({ name: "SynthesisError", reason: "busy" });
    // The first two in, in either order: each makes its work folder before its run starts.
    expect(launcher.runs.map((r) => r.args[3]).sort()).toEqual(["one", "two"]);
    launcher.runs[0]!.answer();
    await expect.poll(() => launcher.runs.length).toBe(3); // the waiting one starts when a run ends
    expect(launcher.runs[2]!.args[3]).toBe("three");
    launcher.runs[1]!.answer();
    launcher.runs[2]!.answer();
    for (const pcm of await Promise.all(pending)) expect(Array.from(pcm)).toEqual(Array.from(ramp(160)));
  });

  it("leaves no WAV behind when the program writes it after an abort", () =>
    expectNoWavAfterAbort(folder, "-o", (program, signal) => {
      const tts = new FliteTts("slt", { program, deadlineMs: 60_000 });
      return { tts, pending: tts.synthesize("hello there", signal) };
    }));
});
