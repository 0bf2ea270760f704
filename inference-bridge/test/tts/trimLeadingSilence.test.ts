import { describe, expect, it } from "vitest";
import { FliteTts } from "../../src/tts/FliteTts.ts";
import { trimLeadingSilence } from "../../src/tts/trimLeadingSilence.ts";

const tone = (ms: number, amplitude = 5_000) =>
  Int16Array.from({ length: ms * 16 }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 440 * i) / 16_000)));

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

describe("trimLeadingSilence", () => {
  it("cuts the silence before the first sound, keeping 20 ms of lead-in, as a view", () => {
    const pcm = concat(new Int16Array(200 * 16), tone(300));
    const trimmed = trimLeadingSilence(pcm);
    expect(trimmed.length).toBe(pcm.length - 180 * 16);
    expect(trimmed.buffer).toBe(pcm.buffer); // no copy
    expect(Array.from(trimmed.subarray(20 * 16, 21 * 16))).toEqual(Array.from(tone(1)));
  });

  it("gives the same view of the same samples every time (the voice's encoded frames go by identity)", () => {
    const pcm = concat(new Int16Array(200 * 16), tone(300));
    const first = trimLeadingSilence(pcm);
    expect(trimLeadingSilence(pcm)).toBe(first);
    // Equal samples in another array are another piece of audio.
    const copy = pcm.slice();
    expect(trimLeadingSilence(copy)).not.toBe(first);
    expect(Array.from(trimLeadingSilence(copy))).toEqual(Array.from(first));
  });

  it("counts faint noise as silence, not as the first sound", () => {
    const hiss = Int16Array.from({ length: 150 * 16 }, (_, i) => (i % 2 ? 30 : -30));
    const trimmed = trimLeadingSilence(concat(hiss, tone(100)));
    expect(trimmed.length).toBe((20 + 100) * 16);
  });

  it("leaves audio that starts with sound, or never gets loud, as it is", () => {
    const loud = tone(100);
    expect(trimLeadingSilence(loud)).toBe(loud);
    const quiet = new Int16Array(1_000);
    expect(trimLeadingSilence(quiet)).toBe(quiet);
    expect(trimLeadingSilence(new Int16Array(0))).toHaveLength(0);
  });

  it("takes flite's silence off the start of a question: the voice starts within 30 ms", async () => {
    const pcm = await new FliteTts().synthesize("Roughly how long did you have to wait?");
    const trimmed = trimLeadingSilence(pcm);
    expect((pcm.length - trimmed.length) / 16).toBeGreaterThan(100); // flite's lead of silence
    let firstLoud = -1;
    for (let at = 0; at + 160 <= trimmed.length && firstLoud < 0; at += 160) {
      let energy = 0;
      for (let i = at; i < at + 160; i++) energy += trimmed[i]! * trimmed[i]!;
      if (Math.sqrt(energy / 160) >= 100) firstLoud = at / 16;
    }
    expect(firstLoud).toBeGreaterThanOrEqual(0);
    expect(firstLoud).toBeLessThanOrEqual(30);
  });
});
