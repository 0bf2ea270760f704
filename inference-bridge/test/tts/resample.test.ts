// espeak-ng's 22050 Hz speech resampled to 16 kHz: tones below 8 kHz come
// through at their frequency and level, tones above it (which 16 kHz cannot
// carry) are filtered out instead of folding back as aliases.
import { describe, expect, it } from "vitest";
import { resample } from "../../src/tts/resample.ts";
import { rms } from "./support.ts";

function tone(hz: number, rate: number, samples: number, amplitude = 10_000): Int16Array {
  return Int16Array.from({ length: samples }, (_, i) =>
    Math.round(amplitude * Math.sin((2 * Math.PI * hz * i) / rate)),
  );
}

/** Sign changes from negative to non-negative: one per cycle of a pure tone. */
function upwardCrossings(pcm: Int16Array): number {
  let crossings = 0;
  for (let i = 1; i < pcm.length; i++) if (pcm[i - 1]! < 0 && pcm[i]! >= 0) crossings++;
  return crossings;
}

/** The amplitude of `pcm` at `hz` (Goertzel), in sample units. */
function amplitudeAt(pcm: Int16Array, hz: number, rate: number): number {
  const coefficient = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  for (const x of pcm) {
    const s = x + coefficient * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  const power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
  return (2 * Math.sqrt(power)) / pcm.length;
}

describe("resample", () => {
  it("turns a second of a 1 kHz tone at 22050 Hz into a second of a 1 kHz tone at 16 kHz", () => {
    const input = tone(1_000, 22_050, 22_050);
    const output = resample(input, 22_050, 16_000);
    expect(output).toBeInstanceOf(Int16Array);
    expect(output.length).toBe(16_000);
    // 1,000 cycles in the second, as in the input (whose first starts at sample 0, before any crossing).
    expect(upwardCrossings(input)).toBe(999);
    expect(Math.abs(upwardCrossings(output) - 999)).toBeLessThanOrEqual(1);
    // All of its energy at 1 kHz, at the input's level (within 1 %); next to nothing at its neighbours.
    expect(amplitudeAt(output, 1_000, 16_000)).toBeGreaterThan(9_900);
    expect(amplitudeAt(output, 1_000, 16_000)).toBeLessThan(10_100);
    expect(amplitudeAt(output, 900, 16_000)).toBeLessThan(100);
    expect(amplitudeAt(output, 1_100, 16_000)).toBeLessThan(100);
    expect(rms(output) / rms(input)).toBeCloseTo(1, 2);
  });

  it("keeps speech's band: a 6 kHz tone passes at its level", () => {
    const input = tone(6_000, 22_050, 22_050);
    const output = resample(input, 22_050, 16_000);
    expect(amplitudeAt(output, 6_000, 16_000)).toBeGreaterThan(9_900);
    expect(rms(output) / rms(input)).toBeGreaterThan(0.99);
  });

  it.each([
    [8_500, 0.01],
    [10_000, 0.01],
    [11_000, 0.01],
  ])(
    "filters out a %i Hz tone, above 16 kHz's 8 kHz Nyquist frequency (RMS below %s of the input's)",
    (hz, fraction) => {
      const input = tone(hz, 22_050, 22_050);
      const output = resample(input, 22_050, 16_000);
      expect(output.length).toBe(16_000);
      expect(rms(output)).toBeLessThan(fraction * rms(input));
      // Nearest-sample picking would fold it back, at full level, to 16 kHz − hz.
      expect(amplitudeAt(output, 16_000 - hz, 16_000)).toBeLessThan(0.01 * 10_000);
    },
  );

  it("gives about input × 320/441 samples for any length, rounded up", () => {
    for (const n of [0, 1, 2, 440, 441, 442, 45_825]) {
      expect(resample(new Int16Array(n), 22_050, 16_000).length).toBe(Math.ceil((n * 320) / 441));
    }
  });

  it("keeps silence silent and a loud constant within range", () => {
    expect(resample(new Int16Array(1_000), 22_050, 16_000).every((s) => s === 0)).toBe(true);
    const loud = resample(new Int16Array(1_000).fill(32_767), 22_050, 16_000);
    // Away from the edges (where the input ends), a constant stays that constant.
    expect(loud.subarray(50, -50).every((s) => s === 32_767)).toBe(true);
    const full = resample(tone(3_000, 22_050, 2_205, 32_767), 22_050, 16_000);
    expect(Math.max(...full)).toBeLessThanOrEqual(32_767);
    expect(Math.min(...full)).toBeGreaterThanOrEqual(-32_768);
  });

  it("also converts upwards: a 1 kHz tone at 16 kHz is a 1 kHz tone at 22050 Hz", () => {
    const output = resample(tone(1_000, 16_000, 16_000), 16_000, 22_050);
    expect(output.length).toBe(22_050);
    expect(Math.abs(upwardCrossings(output) - 999)).toBeLessThanOrEqual(1);
    expect(amplitudeAt(output, 1_000, 22_050)).toBeGreaterThan(9_900);
  });

  it("returns the input itself when the rates are equal, and refuses rates that are not positive integers", () => {
    const input = tone(1_000, 16_000, 100);
    expect(resample(input, 16_000, 16_000)).toBe(input);
    expect(() => resample(input, 0, 16_000)).toThrow(RangeError);
    expect(() => resample(input, 22_050.5, 16_000)).toThrow(RangeError);
  });
});
