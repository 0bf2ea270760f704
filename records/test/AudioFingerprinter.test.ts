// The fingerprint tap takes each window's spectrum as a half-size complex
// FFT split into the real signal's bins. Fingerprints are stored and compared
// across sessions, so its sub-fingerprints must be those of the method as
// documented, computed the plain way: a full 1024-point complex FFT of the
// windowed samples (the reference below). Real speech from Debian's
// pocketsphinx-testdata, a tone and noise.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { AudioFingerprinter, HOP, SAMPLE_RATE } from "../src/audio/AudioFingerprinter.ts";

const LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox";
const WINDOW = 1024;

/** The documented method, straightforwardly: sub-fingerprints and voiced flags per hop. */
function referenceFingerprint(pcm: Int16Array): { values: number[]; voiced: number[] } {
  const bands = 33;
  const edges: number[] = [];
  for (let b = 0; b <= bands; b++) edges.push(Math.round((300 * (3000 / 300) ** (b / bands) * WINDOW) / SAMPLE_RATE));
  for (let b = 1; b <= bands; b++) if (edges[b]! <= edges[b - 1]!) edges[b] = edges[b - 1]! + 1;
  const energies: number[][] = []; // per hop, smoothed over 4 hops
  const raw: number[][] = [];
  const values: number[] = [];
  const voiced: number[] = [];
  let voicedRun = 0;
  // A hop every HOP samples, once a whole window has arrived.
  for (let end = Math.ceil(WINDOW / HOP) * HOP; end <= pcm.length; end += HOP) {
    const re = new Float64Array(WINDOW);
    const im = new Float64Array(WINDOW);
    let sumSquares = 0;
    for (let i = 0; i < WINDOW; i++) {
      const s = pcm[end - WINDOW + i]!;
      sumSquares += s * s;
      re[i] = s * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (WINDOW - 1)));
    }
    fft(re, im);
    raw.push(
      edges.slice(0, bands).map((from, b) => {
        let e = 0;
        for (let k = from; k < edges[b + 1]!; k++) e += re[k]! * re[k]! + im[k]! * im[k]!;
        return e;
      }),
    );
    const recent = raw.slice(-4);
    energies.push(Array.from({ length: bands }, (_, b) => recent.reduce((sum, r) => sum + r[b]!, 0)));
    voicedRun = Math.sqrt(sumSquares / WINDOW) >= 60 ? voicedRun + 1 : 0;
    if (energies.length < 8) continue; // 4 hops to smooth, 4 more to compare with
    const now = energies.at(-1)!;
    const before = energies.at(-5)!;
    let bits = 0;
    for (let m = 0; m < 32; m++) if (now[m]! - now[m + 1]! - (before[m]! - before[m + 1]!) > 0) bits |= 1 << m;
    values.push(bits >>> 0);
    voiced.push(voicedRun > 0 ? 1 : 0);
  }
  return { values, voiced };
}

/** In-place radix-2 complex FFT (natural order in and out). */
function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < size / 2; k++) {
        const wr = Math.cos((2 * Math.PI * k) / size);
        const wi = -Math.sin((2 * Math.PI * k) / size);
        const a = start + k;
        const b = a + size / 2;
        const tr = re[b]! * wr - im[b]! * wi;
        const ti = re[b]! * wi + im[b]! * wr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
      }
    }
  }
}

const samplesOf = (wav: string) => {
  const raw = execFileSync("sox", [wav, "-t", "raw", "-r", "16000", "-c", "1", "-b", "16", "-e", "signed", "-"]);
  return new Int16Array(raw.buffer, raw.byteOffset, raw.byteLength >> 1);
};

/** The tap's fingerprint, fed in chunks of `chunk` samples. */
function tapFingerprint(pcm: Int16Array, chunk: number) {
  const tap = new AudioFingerprinter();
  for (let at = 0; at < pcm.length; at += chunk) tap.push(pcm.subarray(at, at + chunk));
  const { values, voiced } = tap.fingerprint();
  return { values: [...values], voiced: [...voiced] };
}

/** Differing bits between two lists of sub-fingerprints of the same length. */
function differingBits(a: number[], b: number[]): number {
  let bits = 0;
  for (let i = 0; i < a.length; i++) for (let x = (a[i]! ^ b[i]!) >>> 0; x; x >>>= 1) bits += x & 1;
  return bits;
}

describe("AudioFingerprinter", () => {
  const recordings = readdirSync(LIBRIVOX)
    .filter((f) => f.endsWith(".wav"))
    .map((f) => path.join(LIBRIVOX, f));

  it("computes the documented method's sub-fingerprints on real speech, whatever the chunk size", () => {
    expect(recordings.length).toBeGreaterThan(2);
    let frames = 0;
    for (const wav of recordings) {
      const pcm = samplesOf(wav);
      const expected = referenceFingerprint(pcm);
      for (const chunk of [HOP, 160, 1000]) {
        const got = tapFingerprint(pcm, chunk);
        expect(got.values.length).toBe(expected.values.length);
        // Rounding may differ in the last place; a tie that flips a bit would show here.
        expect(differingBits(got.values, expected.values)).toBe(0);
        expect(got.voiced).toEqual(expected.voiced);
      }
      frames += expected.values.length;
    }
    expect(frames).toBeGreaterThan(500);
  });

  it("does the same on a tone under noise and on silence", () => {
    const pcm = new Int16Array(SAMPLE_RATE * 3);
    let seed = 7;
    for (let i = 0; i < pcm.length; i++) {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      const noise = ((seed / 0x7fffffff) * 2 - 1) * 800;
      pcm[i] = i < SAMPLE_RATE ? 0 : Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / SAMPLE_RATE) + noise);
    }
    const expected = referenceFingerprint(pcm);
    const got = tapFingerprint(pcm, HOP);
    expect(differingBits(got.values, expected.values)).toBe(0);
    expect(got.voiced).toEqual(expected.voiced);
    expect(got.voiced.slice(0, 20).every((v) => v === 0)).toBe(true); // the silent second
    expect(got.voiced.at(-1)).toBe(1);
  });

  it("is complete whenever it is read, though it computes hops in batches", () => {
    const pcm = samplesOf(recordings[0]!).subarray(0, SAMPLE_RATE * 3);
    const expected = referenceFingerprint(pcm);
    const tap = new AudioFingerprinter();
    let checked = 0;
    for (let hops = 1; hops * HOP <= pcm.length; hops++) {
      tap.push(pcm.subarray((hops - 1) * HOP, hops * HOP));
      // Read between batches (every 7 hops against batches of 5): each read sees every hop so far.
      if (hops % 7 !== 0) continue;
      const soFar = referenceFingerprint(pcm.subarray(0, hops * HOP)).values.length;
      expect(tap.frames).toBe(soFar);
      expect([...tap.fingerprint().values]).toEqual(expected.values.slice(0, soFar));
      checked++;
    }
    expect(checked).toBeGreaterThan(15);
    // Reading in between changed nothing: the whole matches the method.
    expect(differingBits([...tap.fingerprint().values], expected.values)).toBe(0);
    expect([...tap.fingerprint().voiced]).toEqual(expected.voiced);
  });

  it("skips the spectrum of digital silence (a DTX pause filled with zeros) with the same result", () => {
    const speech = samplesOf(recordings[0]!).subarray(0, SAMPLE_RATE * 2);
    const pcm = new Int16Array(SAMPLE_RATE * 6);
    pcm.set(speech, 0);
    pcm.set(speech, SAMPLE_RATE * 4); // 2 s of zeros between
    const tap = new AudioFingerprinter();
    for (let at = 0; at < pcm.length; at += HOP) tap.push(pcm.subarray(at, at + HOP));
    const expected = referenceFingerprint(pcm);
    expect(differingBits([...tap.fingerprint().values], expected.values)).toBe(0);
    expect([...tap.fingerprint().voiced]).toEqual(expected.voiced);
    // Every hop whose 64 ms window holds only zeros (about 2 s worth), and no other.
    let zeroWindows = 0;
    for (let end = Math.ceil(WINDOW / HOP) * HOP; end <= pcm.length; end += HOP)
      if (pcm.subarray(end - WINDOW, end).every((s) => s === 0)) zeroWindows++;
    expect(zeroWindows).toBeGreaterThanOrEqual(97);
    expect(tap.silentHops).toBe(zeroWindows);
  });
});
