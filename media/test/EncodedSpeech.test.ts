// The AI's speech encoded once per piece: the frames are exactly what a
// fresh encoder makes of the piece, are shared by every playback of the same
// samples, survive a playback stopped midway, and a reply said in pieces
// decodes as faithfully as one encoded whole (flite's voice, real libopus).
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Decoder, Encoder } from "@evan/opus";
import { describe, expect, it } from "vitest";
import { EncodedSpeech, encodedSpeech, FRAME_SAMPLES, VOICE_COMPLEXITY } from "../src/EncodedSpeech.ts";

const work = mkdtempSync(path.join(tmpdir(), "parley-encoded-"));

function flite(text: string): Int16Array {
  const wav = path.join(work, "piece.wav");
  execFileSync("flite", ["-voice", "slt", "-t", text, "-o", wav]);
  const raw = execFileSync("sox", [wav, "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"]);
  return new Int16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
}

/** What one fresh encoder with the voice's settings makes of `pcm`, zero-padded to whole frames. */
function reference(pcm: Int16Array): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 16_000, application: "voip" });
  encoder.bitrate = 24_000;
  encoder.complexity = VOICE_COMPLEXITY;
  const padded = new Int16Array(Math.ceil(pcm.length / FRAME_SAMPLES) * FRAME_SAMPLES);
  padded.set(pcm);
  const frames: Uint8Array[] = [];
  for (let at = 0; at < padded.length; at += FRAME_SAMPLES)
    frames.push(encoder.encode(padded.subarray(at, at + FRAME_SAMPLES)));
  return frames;
}

const all = (speech: EncodedSpeech) => Array.from({ length: speech.frameCount }, (_, i) => speech.frame(i));

/** SNR (dB) of `decoded` against `original` at the best alignment (the codec delays its output). */
function snrDb(original: Int16Array, decoded: Int16Array): number {
  let best = Number.NEGATIVE_INFINITY;
  for (let lag = 0; lag < 400; lag++) {
    let signal = 0;
    let noise = 0;
    for (let i = 0; i + lag < decoded.length; i++) {
      signal += original[i]! ** 2;
      noise += (original[i]! - decoded[i + lag]!) ** 2;
    }
    best = Math.max(best, 10 * Math.log10(signal / noise));
  }
  return best;
}

describe("EncodedSpeech", () => {
  const question = flite("What would have made the visit better for you?");
  const followUp = flite("Tell me about the coffee.");

  it("is what a fresh encoder makes of the piece, its last frame padded with silence", () => {
    const speech = new EncodedSpeech(question);
    expect(question.length % FRAME_SAMPLES).not.toBe(0); // the padding is exercised
    expect(speech.frameCount).toBe(Math.ceil(question.length / FRAME_SAMPLES));
    expect(all(speech)).toEqual(reference(question));
    expect(new EncodedSpeech(new Int16Array(0)).frameCount).toBe(0);
  });

  it("is shared by every playback of the same samples, and encoded only once", () => {
    const pcm = question.slice();
    const first = encodedSpeech(pcm);
    const frames = all(first);
    const again = encodedSpeech(pcm);
    expect(again).toBe(first);
    // The very payloads of the first playback: nothing was encoded again.
    for (const [i, frame] of frames.entries()) expect(again.frame(i)).toBe(frame);
    // Equal samples in another array are another piece (the cache goes by identity, not content).
    expect(encodedSpeech(pcm.slice())).not.toBe(first);
  });

  it("a playback stopped midway leaves frames the next one continues from", () => {
    const speech = new EncodedSpeech(followUp);
    for (let i = 0; i < 10; i++) speech.frame(i); // barge-in after 200 ms
    expect(speech.encodedFrames).toBe(10);
    expect(all(speech)).toEqual(reference(followUp));
    expect(speech.encodedFrames).toBe(speech.frameCount);
  });

  it("frames are asked for in order: skipping ahead or past the end is an error", () => {
    const speech = new EncodedSpeech(followUp);
    expect(() => speech.frame(3)).toThrow(RangeError);
    speech.frame(0);
    expect(() => speech.frame(speech.frameCount)).toThrow(RangeError);
  });

  it("a reply said in pieces decodes as faithfully as the same audio encoded whole", () => {
    const padded = (pcm: Int16Array) => {
      const out = new Int16Array(Math.ceil(pcm.length / FRAME_SAMPLES) * FRAME_SAMPLES);
      out.set(pcm);
      return out;
    };
    const original = new Int16Array([...padded(question), ...padded(followUp)]);
    const decode = (frames: Uint8Array[]) => {
      const decoder = new Decoder({ channels: 1, sample_rate: 16_000 }); // the browser's one decoder
      const out = new Int16Array(frames.length * FRAME_SAMPLES);
      for (const [i, frame] of frames.entries())
        out.set(new Int16Array(decoder.decode(frame).slice().buffer), i * FRAME_SAMPLES);
      return out;
    };
    const inPieces = snrDb(
      original,
      decode([...all(new EncodedSpeech(question)), ...all(new EncodedSpeech(followUp))]),
    );
    const whole = snrDb(original, decode(reference(original)));
    expect(whole).toBeGreaterThan(5); // the measure works: the codec keeps the waveform
    expect(inPieces).toBeGreaterThan(whole - 1);
  });
});
