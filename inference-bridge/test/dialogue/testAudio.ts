// Audio for the voice detector's tests: steady background noise (seeded, so
// every run hears the same; pink as a store's hum and wash is, with more
// energy low down; high-passed at 60 Hz as the browser's capture is), and
// real speech from the pocketsphinx test data.
import { execFileSync } from "node:child_process";
import path from "node:path";

const RATE = 16_000;
export const LIBRIVOX_DIR = "/usr/share/pocketsphinx/test/data/librivox";

export type NoiseColour = "white" | "pink";

/** xorshift32 in (0, 1). */
function uniform(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return (x + 0.5) / 0x1_0000_0000;
  };
}

/** `ms` of steady noise whose RMS is `dbfs` (relative to a full-scale square wave). */
export function backgroundNoise(ms: number, dbfs: number, colour: NoiseColour, seed = 1): Int16Array {
  const n = (ms * RATE) / 1_000;
  const next = uniform(seed);
  const raw = new Float64Array(n);
  // Paul Kellet's pink filter over Gaussian white noise, then a one-pole 60 Hz high-pass.
  const b = [0, 0, 0, 0, 0, 0, 0];
  const highPass = 1 / (1 + (2 * Math.PI * 60) / RATE);
  let lastIn = 0;
  let lastOut = 0;
  for (let i = 0; i < n; i++) {
    const white = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
    let x = white;
    if (colour === "pink") {
      b[0] = 0.99886 * b[0]! + white * 0.0555179;
      b[1] = 0.99332 * b[1]! + white * 0.0750759;
      b[2] = 0.969 * b[2]! + white * 0.153852;
      b[3] = 0.8665 * b[3]! + white * 0.3104856;
      b[4] = 0.55 * b[4]! + white * 0.5329522;
      b[5] = -0.7616 * b[5]! - white * 0.016898;
      x = b[0]! + b[1]! + b[2]! + b[3]! + b[4]! + b[5]! + b[6]! + white * 0.5362;
      b[6] = white * 0.115926;
    }
    lastOut = highPass * (lastOut + x - lastIn);
    lastIn = x;
    raw[i] = lastOut;
  }
  return atLevel(raw, dbfs);
}

/** `pcm` scaled so that its RMS is `dbfs` (saturating). */
export function atLevel(pcm: Int16Array | Float64Array, dbfs: number): Int16Array {
  let energy = 0;
  for (let i = 0; i < pcm.length; i++) energy += pcm[i]! * pcm[i]!;
  const scale = (32_768 * 10 ** (dbfs / 20)) / Math.sqrt(energy / pcm.length);
  return Int16Array.from(pcm, (v) => Math.max(-32_768, Math.min(32_767, Math.round(v * scale))));
}

/** `voice` added onto `background` from sample `at` on (saturating). */
export function mixed(background: Int16Array, voice: Int16Array, at: number): Int16Array {
  const out = Int16Array.from(background);
  for (let i = 0; i < voice.length && at + i < out.length; i++) {
    out[at + i] = Math.max(-32_768, Math.min(32_767, out[at + i]! + voice[i]!));
  }
  return out;
}

const recordings = new Map<string, Int16Array>();

/** A LibriVox recording of the pocketsphinx test data as 16 kHz PCM (decoded once). */
export function librivox(file: string): Int16Array {
  const decoded = recordings.get(file);
  if (decoded) return decoded;
  const raw = execFileSync("sox", [
    path.join(LIBRIVOX_DIR, file),
    ...["-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"],
  ]);
  const pcm = new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
  recordings.set(file, pcm);
  return pcm;
}

/**
 * Where `pcm` holds voice at `dbfs` or louder for at least `frames` 20 ms
 * frames in a row (the detector's onset): the start of the first such run and
 * the end of the last, in samples; -1 for none.
 */
export function voiceRuns(pcm: Int16Array, dbfs: number, frames = 3): { first: number; end: number } {
  const floor = 32_768 * 10 ** (dbfs / 20);
  let first = -1;
  let end = -1;
  let run = 0;
  for (let at = 0; at + 320 <= pcm.length; at += 320) {
    let energy = 0;
    for (let i = at; i < at + 320; i++) energy += pcm[i]! * pcm[i]!;
    run = Math.sqrt(energy / 320) >= floor ? run + 1 : 0;
    if (run < frames) continue;
    if (first < 0) first = at + 320 - frames * 320;
    end = at + 320;
  }
  return { first, end };
}
