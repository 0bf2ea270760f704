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
// Cheap per frame and allocation-free: every buffer is allocated once (the
// FFT's work space once for all taps); push() copies samples into a ring and,
// per 20 ms hop, unless the window is all zeros (a DTX pause), takes
// the 1024-point spectrum of the real window as one 512-point complex FFT
// (even samples as real parts, odd as imaginary) split into the real
// signal's bins, only those the bands use: the same spectrum as a 1024-point
// complex FFT up to rounding, at less than half its cost.
//
// Hops are computed BATCH at a time (every 100 ms), not one per 20 ms frame:
// on a node, one stream's hop runs between other streams' decoding and
// network work, which evicts the FFT's tables and work space from the cache,
// so a lone hop cost about twice what it costs in a row. Nothing waits for the
// fingerprint during the session; reading it (fingerprint(), frames,
// silentHops) computes the hops still pending first.

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

/** The complex FFT's size: the real window's samples in pairs. */
const HALF = WINDOW / 2;
/** Hops computed together (see above). */
const BATCH = 5;
/** The sample ring holds the window of the oldest pending hop and every sample since: a power of two for cheap wrapping. */
const RING = 4096;
if (RING < WINDOW + (BATCH - 1) * HOP) throw new Error("the ring must hold every pending hop's window");

// Shared, read-only tables.
const hann = new Float64Array(WINDOW);
for (let i = 0; i < WINDOW; i++) hann[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (WINDOW - 1));
/** Where pair n of the window goes in the half-size FFT's input (bit-reversed order). */
const bitReverse = new Uint16Array(HALF);
for (let i = 0; i < HALF; i++) {
  let r = 0;
  for (let b = 0; b < LOG2_WINDOW - 1; b++) r |= ((i >> b) & 1) << (LOG2_WINDOW - 2 - b);
  bitReverse[i] = r;
}
/** e^(-2πik/WINDOW) = cosTable[k] + i·sinTable[k]; the half-size FFT uses every other entry. */
const cosTable = new Float64Array(HALF);
const sinTable = new Float64Array(HALF);
for (let i = 0; i < HALF; i++) {
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

/**
 * The FFT's work space, shared by every tap: a hop runs start to end within
 * one push(), so no two taps use it at once, and a node with many streams
 * keeps one hot copy in the cache instead of 8 KiB per stream.
 */
const scratchRe = new Float64Array(HALF);
const scratchIm = new Float64Array(HALF);

export class AudioFingerprinter {
  /** The last RING samples as they came (16-bit: a quarter of the memory of doubles). */
  readonly #ring = new Int16Array(RING);
  /** Hops reached but not yet computed: where each one's window ends in the ring, and whether it was all zeros. */
  readonly #pendingEnd = new Uint16Array(BATCH);
  readonly #pendingSilent = new Uint8Array(BATCH);
  #pending = 0;
  readonly #raw = new Float64Array(SMOOTH * BANDS);
  readonly #history = new Float64Array((LAG + 1) * BANDS);
  #hops = 0;
  #voicedHops = 0;
  readonly #values: Uint32Array;
  readonly #voiced: Uint8Array;
  #ringPos = 0; // next write position
  #samples = 0; // samples seen in total
  /** #samples when the last non-zero sample came: the window is digital silence once WINDOW samples are zero. */
  #lastSound = 0;
  #silentHops = 0;
  #sinceHop = 0;
  #frames = 0;

  /** `maxSeconds`: audio beyond it is not fingerprinted (the start is what a replay shares). */
  constructor(maxSeconds = 300) {
    const maxFrames = Math.ceil((maxSeconds * SAMPLE_RATE) / HOP);
    this.#values = new Uint32Array(maxFrames);
    this.#voiced = new Uint8Array(maxFrames);
  }

  get frames(): number {
    this.#computePending();
    return this.#frames;
  }

  /** Hops whose window was digital silence (a DTX pause filled with zeros): no spectrum computed. */
  get silentHops(): number {
    this.#computePending();
    return this.#silentHops;
  }

  /** Feeds 16 kHz mono PCM. Called per 20 ms frame on the media path: no allocation. */
  push(pcm: Int16Array): void {
    if (this.#frames >= this.#values.length) return;
    const ring = this.#ring;
    let pos = this.#ringPos;
    for (let i = 0; i < pcm.length; i++) {
      const sample = pcm[i]!;
      ring[pos] = sample;
      pos = (pos + 1) & (RING - 1);
      this.#samples++;
      if (sample !== 0) this.#lastSound = this.#samples;
      if (++this.#sinceHop === HOP) {
        this.#sinceHop = 0;
        if (this.#samples >= WINDOW) {
          this.#pendingEnd[this.#pending] = pos;
          // Whether the WINDOW samples up to here are all 0 (known now only: later samples move #lastSound).
          this.#pendingSilent[this.#pending] = this.#samples - this.#lastSound >= WINDOW ? 1 : 0;
          if (++this.#pending === BATCH) {
            this.#computePending();
            if (this.#frames >= this.#values.length) return;
          }
        }
      }
    }
    this.#ringPos = pos;
  }

  /** The fingerprint so far (views on this tap's buffers: copy before reusing the tap). */
  fingerprint(): Fingerprint {
    this.#computePending();
    return { values: this.#values.subarray(0, this.#frames), voiced: this.#voiced.subarray(0, this.#frames) };
  }

  #computePending(): void {
    for (let i = 0; i < this.#pending; i++) {
      if (this.#frames >= this.#values.length) break;
      this.#hop(this.#pendingEnd[i]!, this.#pendingSilent[i] === 1);
    }
    this.#pending = 0;
  }

  /** The hop whose window ends at ring position `end`. */
  #hop(end: number, silent: boolean): void {
    const raw = this.#raw;
    const rawBase = (this.#hops % SMOOTH) * BANDS;
    if (silent) {
      // All WINDOW samples are 0, so is every band's energy: the same result without the FFT.
      // This is most of a customer's pause (the node fills DTX gaps with zeros).
      raw.fill(0, rawBase, rawBase + BANDS);
      this.#silentHops++;
      this.#afterSpectrum(0);
      return;
    }
    const ring = this.#ring;
    const re = scratchRe;
    const im = scratchIm;
    // Window the last WINDOW samples (oldest first), pairs into bit-reversed order.
    let sumSquares = 0;
    const start = end - WINDOW;
    for (let n = 0; n < HALF; n++) {
      const even = ring[(start + 2 * n) & (RING - 1)]!;
      const odd = ring[(start + 2 * n + 1) & (RING - 1)]!;
      sumSquares += even * even + odd * odd;
      const j = bitReverse[n]!;
      re[j] = even * hann[2 * n]!;
      im[j] = odd * hann[2 * n + 1]!;
    }
    halfFftInPlace(re, im);
    // This hop's band energies replace the oldest in the smoothing ring.
    // Bin k of the real window from bins k and HALF - k of the half-size FFT:
    // X[k] = (Z[k] + conj Z[-k]) / 2 + e^(-2πik/WINDOW) (Z[k] - conj Z[-k]) / 2i.
    for (let b = 0; b < BANDS; b++) {
      let e = 0;
      for (let k = bandEdges[b]!; k < bandEdges[b + 1]!; k++) {
        const m = (HALF - k) & (HALF - 1);
        const zr = re[k]!;
        const zi = im[k]!;
        const mr = re[m]!;
        const mi = im[m]!;
        const evenR = (zr + mr) * 0.5;
        const evenI = (zi - mi) * 0.5;
        const oddR = (zi + mi) * 0.5;
        const oddI = (mr - zr) * 0.5;
        const wr = cosTable[k]!;
        const wi = sinTable[k]!;
        const xr = evenR + wr * oddR - wi * oddI;
        const xi = evenI + wr * oddI + wi * oddR;
        e += xr * xr + xi * xi;
      }
      raw[rawBase + b] = e;
    }
    this.#afterSpectrum(sumSquares);
  }

  /** With this hop's band energies in place: smoothing, history, and the sub-fingerprint. */
  #afterSpectrum(sumSquares: number): void {
    const raw = this.#raw;
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

/**
 * FFT of HALF (512) points on input already in bit-reversed order: the
 * radix-2 stages, two at a time where it saves a pass over the data. Sizes 2
 * and 4 need no multiplication (twiddles 1 and -i); then pairs of stages
 * (4 → 16 → 64 → 256), each the same arithmetic as two radix-2 stages, and a
 * last radix-2 stage to 512.
 */
function halfFftInPlace(re: Float64Array, im: Float64Array): void {
  for (let s = 0; s < HALF; s += 4) {
    const r0 = re[s]!;
    const i0 = im[s]!;
    const r1 = re[s + 1]!;
    const i1 = im[s + 1]!;
    const r2 = re[s + 2]!;
    const i2 = im[s + 2]!;
    const r3 = re[s + 3]!;
    const i3 = im[s + 3]!;
    const a0r = r0 + r1;
    const a0i = i0 + i1;
    const a1r = r0 - r1;
    const a1i = i0 - i1;
    const a2r = r2 + r3;
    const a2i = i2 + i3;
    const a3r = r2 - r3;
    const a3i = i2 - i3;
    re[s] = a0r + a2r;
    im[s] = a0i + a2i;
    re[s + 2] = a0r - a2r;
    im[s + 2] = a0i - a2i;
    // × -i: (x + iy)(-i) = y - ix
    re[s + 1] = a1r + a3i;
    im[s + 1] = a1i - a3r;
    re[s + 3] = a1r - a3i;
    im[s + 3] = a1i + a3r;
  }
  for (let quarter = 4; quarter * 4 <= HALF; quarter *= 4) {
    const step2 = WINDOW / (2 * quarter); // twiddles of the first stage (size 2·quarter)
    const step4 = WINDOW / (4 * quarter); // and of the second (size 4·quarter)
    for (let s = 0; s < HALF; s += 4 * quarter) {
      for (let k = 0; k < quarter; k++) {
        const w1r = cosTable[k * step2]!;
        const w1i = sinTable[k * step2]!;
        const w2r = cosTable[k * step4]!;
        const w2i = sinTable[k * step4]!;
        const w3r = cosTable[(k + quarter) * step4]!;
        const w3i = sinTable[(k + quarter) * step4]!;
        const p0 = s + k;
        const p1 = p0 + quarter;
        const p2 = p1 + quarter;
        const p3 = p2 + quarter;
        const x0r = re[p0]!;
        const x0i = im[p0]!;
        const x1r = re[p1]!;
        const x1i = im[p1]!;
        const x2r = re[p2]!;
        const x2i = im[p2]!;
        const x3r = re[p3]!;
        const x3i = im[p3]!;
        // Stage size 2·quarter: (p0, p1) and (p2, p3), twiddle w1.
        const t1r = x1r * w1r - x1i * w1i;
        const t1i = x1r * w1i + x1i * w1r;
        const t3r = x3r * w1r - x3i * w1i;
        const t3i = x3r * w1i + x3i * w1r;
        const y0r = x0r + t1r;
        const y0i = x0i + t1i;
        const y1r = x0r - t1r;
        const y1i = x0i - t1i;
        const y2r = x2r + t3r;
        const y2i = x2i + t3i;
        const y3r = x2r - t3r;
        const y3i = x2i - t3i;
        // Stage size 4·quarter: (p0, p2) with twiddle w2, (p1, p3) with w3.
        const ur = y2r * w2r - y2i * w2i;
        const ui = y2r * w2i + y2i * w2r;
        const vr = y3r * w3r - y3i * w3i;
        const vi = y3r * w3i + y3i * w3r;
        re[p0] = y0r + ur;
        im[p0] = y0i + ui;
        re[p2] = y0r - ur;
        im[p2] = y0i - ui;
        re[p1] = y1r + vr;
        im[p1] = y1i + vi;
        re[p3] = y1r - vr;
        im[p3] = y1i - vi;
      }
    }
  }
  // The last stage, size HALF (HALF is 2 · 4^4).
  const half = HALF >> 1;
  const step = WINDOW / HALF;
  for (let k = 0; k < half; k++) {
    const wr = cosTable[k * step]!;
    const wi = sinTable[k * step]!;
    const b = k + half;
    const tr = re[b]! * wr - im[b]! * wi;
    const ti = re[b]! * wi + im[b]! * wr;
    re[b] = re[k]! - tr;
    im[b] = im[k]! - ti;
    re[k] = re[k]! + tr;
    im[k] = im[k]! + ti;
  }
}
