// Sample-rate conversion of synthesised speech (espeak-ng's 22050 Hz to the
// 16 kHz the AI's voice is sent at): a polyphase windowed-sinc filter. Every
// output sample is the input convolved with a low-pass sinc, windowed (Kaiser),
// at the output sample's exact position between input samples. The pass band
// ends below the lower rate's Nyquist frequency so that nothing above it folds
// back into the speech: for 22050 → 16 kHz, flat to 6.4 kHz, at least 80 dB
// down from 8 kHz on. Picking the nearest input samples instead would fold
// espeak-ng's 8–11 kHz hiss back into the voice as audible aliasing.
//
// The rate ratio, reduced (16000/22050 = 320/441), gives the filter's phases:
// an output position falls on one of 320 fractions of an input sample, and
// each fraction's taps are computed once per pair of rates.

/** Stop-band attenuation, in dB (it sets the Kaiser window's β and the filter's length). */
const ATTENUATION_DB = 80;
/** Transition band, as a fraction of the lower rate: from 0.4 × that rate (pass) to 0.5 × (stop). */
const TRANSITION = 0.1;

interface Polyphase {
  /** Output samples per `down` input samples (the ratio, reduced). */
  up: number;
  down: number;
  /** Taps either side of an output position, in input samples. */
  half: number;
  /** `up` phases of 2 × `half` taps each: phase p weighs input i − half + 1 + k for an output at i + p/up. */
  taps: Float64Array;
}

const filters = new Map<string, Polyphase>();

/**
 * `input` at `fromRate` samples per second, converted to `toRate`: about
 * input.length × toRate / fromRate samples (rounded up). The same array
 * when the rates are equal.
 */
export function resample(input: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (!(Number.isInteger(fromRate) && Number.isInteger(toRate) && fromRate > 0 && toRate > 0))
    throw new RangeError(`cannot resample from ${fromRate} to ${toRate} Hz`);
  if (fromRate === toRate) return input;
  const { up, down, half, taps } = polyphase(fromRate, toRate);
  const width = 2 * half;
  const out = new Int16Array(Math.ceil((input.length * up) / down));
  for (let n = 0; n < out.length; n++) {
    // Output n lies at input position n × down / up = i + phase / up.
    const position = n * down;
    const i = Math.floor(position / up);
    const phase = position - i * up;
    const base = phase * width;
    const first = i - half + 1;
    const from = Math.max(0, -first);
    const to = Math.min(width, input.length - first);
    let sum = 0;
    for (let k = from; k < to; k++) sum += input[first + k]! * taps[base + k]!;
    out[n] = Math.max(-32_768, Math.min(32_767, Math.round(sum)));
  }
  return out;
}

function polyphase(fromRate: number, toRate: number): Polyphase {
  const key = `${fromRate}/${toRate}`;
  let filter = filters.get(key);
  if (!filter) {
    filter = design(fromRate, toRate);
    filters.set(key, filter);
  }
  return filter;
}

function design(fromRate: number, toRate: number): Polyphase {
  const divisor = gcd(fromRate, toRate);
  const up = toRate / divisor;
  const down = fromRate / divisor;
  const lower = Math.min(fromRate, toRate);
  // In cycles per input sample: the cut-off midway through the transition band, and the band's width.
  const cutoff = ((0.5 - TRANSITION / 2) * lower) / fromRate;
  const transition = (TRANSITION * lower) / fromRate;
  // Kaiser's estimates: the window's shape for the attenuation, and the length for the transition band.
  const beta = 0.1102 * (ATTENUATION_DB - 8.7);
  const length = (ATTENUATION_DB - 8) / (2.285 * 2 * Math.PI * transition);
  const half = Math.ceil(length / 2);
  const width = 2 * half;
  const taps = new Float64Array(up * width);
  const i0Beta = besselI0(beta);
  for (let phase = 0; phase < up; phase++) {
    const base = phase * width;
    let sum = 0;
    for (let k = 0; k < width; k++) {
      // Distance from the output position to the input sample this tap weighs, in input samples.
      const x = phase / up + half - 1 - k;
      const r = x / half;
      const window = Math.abs(r) >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0Beta;
      const tap = 2 * cutoff * sinc(2 * cutoff * x) * window;
      taps[base + k] = tap;
      sum += tap;
    }
    // Each phase passes a constant unchanged (no ripple at 0 Hz from one output sample to the next).
    for (let k = 0; k < width; k++) taps[base + k]! /= sum;
  }
  return { up, down, half, taps };
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/** The modified Bessel function of the first kind, order 0 (its power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50 && term > sum * 1e-16; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}
