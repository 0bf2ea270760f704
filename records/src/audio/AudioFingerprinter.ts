// A spectral fingerprint of one conversation's audio, computed as the PCM
// flows (16 kHz s16le, any chunk size), to recognise the same recording played
// again in another session. The method is Haitsma & Kalker's (Philips): every
// 20 ms, the energy of 33 log-spaced bands between 300 and 3000 Hz (64 ms FFT
// windows, summed over the last 4 hops); bit m of the 32-bit sub-fingerprint is
// the sign of the energy difference between bands m and m+1, minus the same
// difference 4 hops (80 ms) earlier. Long, overlapping windows make it robust
// to a shifted start, gain and noise. Measured on the pocketsphinx-testdata
// recordings: a replay shifted by 3000 samples at half gain with noise differs
// in 23% of the bits, at 5 dB SNR in 29%; different recordings in 46-48%.
//
// Cheap per frame and allocation-free: every buffer is allocated once in the
// constructor; push() copies samples into a ring and runs one 1024-point FFT
// per 20 ms hop.

export const SAMPLE_RATE = 16_000;
export const HOP = 320; // 20 ms
const WINDOW = 1024; // 64 ms
const LOG2_WINDOW = 10;
const BANDS = 33;
const LOW_HZ = 300;
const HIGH_HZ = 3000;
/** Frames quieter than this RMS (of 32768) carry no usable spectrum; they are marked and never compared. */
const SILENCE_RMS = 60;
/** Band energies are summed over this many hops (longer effective window: robust to a shifted start). */
const SMOOTH = 4;
/** Bits compare the band differences with those this many hops earlier. */
const LAG = 4;

// Shared, read-only tables.
const hann = new Float64Array(WINDOW);
for (let i = 0; i < WINDOW; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (WINDOW - 1));
const bitReverse = new Uint16Array(WINDOW);
for (let i = 0; i < WINDOW; i++) {
  let r = 0;
  for (let b = 0; b < LOG2_WINDOW; b++) r |= ((i >> b) & 1) << (LOG2_WINDOW - 1 - b);
  bitReverse[i] = r;
}
const cosTable = new Float64Array(WINDOW / 2);
const sinTable = new Float64Array(WINDOW / 2);
for (let i = 0; i < WINDOW / 2; i++) {
  cosTable[i] = Math.cos((2 * Math.PI * i) / WINDOW);
  sinTable[i] = -Math.sin((2 * Math.PI * i) / WINDOW);
}
/** FFT bin edges of the bands: band b covers bins [bandEdges[b], bandEdges[b+1]). */
const bandEdges = new Uint16Array(BANDS + 1);
for (let b = 0; b <= BANDS; b++) {
  const hz = LOW_HZ * (HIGH_HZ / LOW_HZ) ** (b / BANDS);
  bandEdges[b] = Math.round((hz * WINDOW) / SAMPLE_RATE);
}
for (let b = 1; b <= BANDS; b++) if (bandEdges[b]! <= bandEdges[b - 1]!) bandEdges[b] = bandEdges[b - 1]! + 1;

export interface Fingerprint {
  /** One 32-bit sub-fingerprint per 20 ms hop. */
  values: Uint32Array;
  /** 1 where the hop had sound; 0 for silence (not compared). */
  voiced: Uint8Array;
}

export class AudioFingerprinter {
  readonly #ring = new Float64Array(WINDOW);
  readonly #re = new Float64Array(WINDOW);
  readonly #im = new Float64Array(WINDOW);
  readonly #raw = new Float64Array(SMOOTH * BANDS);
  readonly #history = new Float64Array((LAG + 1) * BANDS);
  #hops = 0;
  #voicedHops = 0;
  readonly #values: Uint32Array;
  readonly #voiced: Uint8Array;
  #ringPos = 0; // next write position
  #samples = 0; // samples seen in total
  #sinceHop = 0;
  #frames = 0;

  /** `maxSeconds`: audio beyond it is not fingerprinted (the start is what a replay shares). */
  constructor(maxSeconds = 300) {
    const maxFrames = Math.ceil((maxSeconds * SAMPLE_RATE) / HOP);
    this.#values = new Uint32Array(maxFrames);
    this.#voiced = new Uint8Array(maxFrames);
  }

  get frames(): number {
    return this.#frames;
  }

  /** Feeds 16 kHz mono PCM. Called per 20 ms frame on the media path: no allocation. */
  push(pcm: Int16Array): void {
    if (this.#frames >= this.#values.length) return;
    const ring = this.#ring;
    let pos = this.#ringPos;
    for (let i = 0; i < pcm.length; i++) {
      ring[pos] = pcm[i]!;
      pos = (pos + 1) & (WINDOW - 1);
      this.#samples++;
      if (++this.#sinceHop === HOP) {
        this.#sinceHop = 0;
        this.#ringPos = pos;
        if (this.#samples >= WINDOW) this.#hop();
        if (this.#frames >= this.#values.length) return;
      }
    }
    this.#ringPos = pos;
  }

  /** The fingerprint so far (views on this tap's buffers: copy before reusing the tap). */
  fingerprint(): Fingerprint {
    return { values: this.#values.subarray(0, this.#frames), voiced: this.#voiced.subarray(0, this.#frames) };
  }

  #hop(): void {
    const ring = this.#ring;
    const re = this.#re;
    const im = this.#im;
    // Window the last WINDOW samples (oldest first) into bit-reversed order.
    let sumSquares = 0;
    const start = this.#ringPos;
    for (let i = 0; i < WINDOW; i++) {
      const s = ring[(start + i) & (WINDOW - 1)]!;
      sumSquares += s * s;
      const j = bitReverse[i]!;
      re[j] = s * hann[i]!;
      im[j] = 0;
    }
    fftInPlace(re, im);
    // This hop's band energies replace the oldest in the smoothing ring.
    const raw = this.#raw;
    const rawBase = (this.#hops % SMOOTH) * BANDS;
    for (let b = 0; b < BANDS; b++) {
      let e = 0;
      for (let k = bandEdges[b]!; k < bandEdges[b + 1]!; k++) e += re[k]! * re[k]! + im[k]! * im[k]!;
      raw[rawBase + b] = e;
    }
    // Smoothed energies (sum over the ring) go into the history ring, LAG + 1 deep.
    const hist = this.#history;
    const histBase = (this.#hops % (LAG + 1)) * BANDS;
    for (let b = 0; b < BANDS; b++) {
      let e = 0;
      for (let h = 0; h < SMOOTH; h++) e += raw[h * BANDS + b]!;
      hist[histBase + b] = e;
    }
    this.#voicedHops = Math.sqrt(sumSquares / WINDOW) >= SILENCE_RMS ? this.#voicedHops + 1 : 0;
    this.#hops++;
    if (this.#hops < SMOOTH + LAG) return;
    const prevBase = (this.#hops % (LAG + 1)) * BANDS; // the entry LAG hops back
    let bits = 0;
    for (let m = 0; m < 32; m++) {
      const d = hist[histBase + m]! - hist[histBase + m + 1]! - (hist[prevBase + m]! - hist[prevBase + m + 1]!);
      if (d > 0) bits |= 1 << m;
    }
    this.#values[this.#frames] = bits >>> 0;
    this.#voiced[this.#frames] = this.#voicedHops > 0 ? 1 : 0;
    this.#frames++;
  }
}

/** Radix-2 iterative FFT on input already in bit-reversed order. */
function fftInPlace(re: Float64Array, im: Float64Array): void {
  for (let size = 2; size <= WINDOW; size <<= 1) {
    const half = size >> 1;
    const step = WINDOW / size;
    for (let start = 0; start < WINDOW; start += size) {
      for (let k = 0; k < half; k++) {
        const wr = cosTable[k * step]!;
        const wi = sinTable[k * step]!;
        const a = start + k;
        const b = a + half;
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
