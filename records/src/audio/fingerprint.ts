// Comparing fingerprints (see AudioFingerprinter) across sessions, and their
// storage form. A replay is found by voting: sub-fingerprints that are exactly
// equal in both recordings propose an alignment; the best-voted alignments are
// checked by their bit error rate over the voiced frames they share.
import type { Fingerprint } from "./AudioFingerprinter.ts";

export interface ReplayMatch {
  /** Offset of `b` against `a`, in 20 ms hops. */
  offset: number;
  /** Share of differing bits over the compared frames: ~0.5 for unrelated audio. */
  bitErrorRate: number;
  comparedFrames: number;
}

export interface MatchOptions {
  /** At most this share of differing bits counts as the same recording. */
  maxBitErrorRate?: number;
  /** At least this many voiced frames (20 ms each) must overlap. */
  minFrames?: number;
  /** Alignments checked, best-voted first. */
  candidates?: number;
}

/** An index of a fingerprint's voiced sub-fingerprints, built once and compared with many others. */
export class FingerprintIndex {
  readonly fingerprint: Fingerprint;
  readonly #positions = new Map<number, number[]>();

  constructor(fingerprint: Fingerprint) {
    this.fingerprint = fingerprint;
    const { values, voiced } = fingerprint;
    for (let i = 0; i < values.length; i++) {
      if (!voiced[i]) continue;
      const list = this.#positions.get(values[i]!);
      if (list) list.push(i);
      else this.#positions.set(values[i]!, [i]);
    }
  }

  /** The best alignment of `other` that passes, or undefined. */
  match(other: Fingerprint, options: MatchOptions = {}): ReplayMatch | undefined {
    const maxBer = options.maxBitErrorRate ?? 0.35;
    const minFrames = options.minFrames ?? 100;
    const votes = new Map<number, number>();
    for (let j = 0; j < other.values.length; j++) {
      if (!other.voiced[j]) continue;
      const list = this.#positions.get(other.values[j]!);
      if (!list) continue;
      for (const i of list) votes.set(j - i, (votes.get(j - i) ?? 0) + 1);
    }
    const ranked = [...votes.entries()].sort((x, y) => y[1] - x[1]).slice(0, options.candidates ?? 8);
    let best: ReplayMatch | undefined;
    for (const [offset] of ranked) {
      const m = compareAt(this.fingerprint, other, offset);
      if (m.comparedFrames >= minFrames && m.bitErrorRate <= maxBer && (!best || m.bitErrorRate < best.bitErrorRate))
        best = m;
    }
    return best;
  }
}

/** Bit error rate of `b` shifted by `offset` hops against `a`, over frames voiced in both. */
export function compareAt(a: Fingerprint, b: Fingerprint, offset: number): ReplayMatch {
  let bits = 0;
  let frames = 0;
  for (let i = Math.max(0, -offset); i < a.values.length && i + offset < b.values.length; i++) {
    const j = i + offset;
    if (!a.voiced[i] || !b.voiced[j]) continue;
    bits += popcount32((a.values[i]! ^ b.values[j]!) >>> 0);
    frames++;
  }
  return { offset, bitErrorRate: frames === 0 ? 1 : bits / (frames * 32), comparedFrames: frames };
}

function popcount32(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** Storage form: little-endian u32 values, then one byte per frame for voiced. */
export function encodeFingerprint(fp: Fingerprint): Buffer {
  const out = Buffer.alloc(fp.values.length * 5);
  for (let i = 0; i < fp.values.length; i++) out.writeUInt32LE(fp.values[i]!, i * 4);
  out.set(fp.voiced, fp.values.length * 4);
  return out;
}

export function decodeFingerprint(data: Uint8Array): Fingerprint {
  const frames = Math.floor(data.length / 5);
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const values = new Uint32Array(frames);
  for (let i = 0; i < frames; i++) values[i] = view.readUInt32LE(i * 4);
  return { values, voiced: Uint8Array.from(view.subarray(frames * 4, frames * 5)) };
}
