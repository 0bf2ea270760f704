// Text rules on a final transcript: near-duplicates across sessions (MinHash
// over word 3-grams), and feedback that is empty or scripted (the same words
// over and over). Works on the words only; nothing here logs the text.

const MINHASH_SIZE = 64;

export function words(text: string): string[] {
  return text
    .toLowerCase()
    .normalize("NFKC")
    .split(/[^\p{L}\p{N}']+/u)
    .filter(Boolean);
}

function fnv1a(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // Final avalanche so seeds that differ by one give unrelated hashes.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  return h >>> 0;
}

/** MinHash signature of the word 3-grams; empty for fewer than 3 words. */
export function minhash(text: string): Uint32Array {
  const w = words(text);
  const signature = new Uint32Array(MINHASH_SIZE).fill(0xffffffff);
  if (w.length < 3) return new Uint32Array(0);
  for (let i = 0; i + 2 < w.length; i++) {
    const shingle = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
    for (let k = 0; k < MINHASH_SIZE; k++) {
      const h = fnv1a(shingle, k * 0x9e3779b1);
      if (h < signature[k]!) signature[k] = h;
    }
  }
  return signature;
}

/** Estimated Jaccard similarity of the two texts' 3-gram sets (0 when either is too short). */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== MINHASH_SIZE || b.length !== MINHASH_SIZE) return 0;
  let same = 0;
  for (let k = 0; k < MINHASH_SIZE; k++) if (a[k] === b[k]) same++;
  return same / MINHASH_SIZE;
}

export const encodeMinhash = (m: Uint32Array) => Buffer.from(m.buffer, m.byteOffset, m.byteLength);
export const decodeMinhash = (data: Uint8Array) => {
  const copy = Uint8Array.from(data);
  return new Uint32Array(copy.buffer, 0, Math.floor(copy.length / 4));
};

export interface ScriptedVerdict {
  scripted: boolean;
  /** Distinct words / words. */
  distinctRatio: number;
  /** The most repeated 4-word phrase's count. */
  maxPhraseRepeats: number;
}

/** Scripted: a phrase said again and again, or very few distinct words in a long text. */
export function scripted(text: string): ScriptedVerdict {
  const w = words(text);
  const distinctRatio = w.length === 0 ? 1 : new Set(w).size / w.length;
  const phrases = new Map<string, number>();
  let maxPhraseRepeats = 0;
  for (let i = 0; i + 3 < w.length; i++) {
    const p = `${w[i]} ${w[i + 1]} ${w[i + 2]} ${w[i + 3]}`;
    const n = (phrases.get(p) ?? 0) + 1;
    phrases.set(p, n);
    if (n > maxPhraseRepeats) maxPhraseRepeats = n;
  }
  const isScripted = maxPhraseRepeats >= 3 || (w.length >= 20 && distinctRatio < 0.3);
  return { scripted: isScripted, distinctRatio, maxPhraseRepeats };
}
