// Word error rate: word-level Levenshtein distance over reference length.

/**
 * The words of a transcript, compared as spoken: lower case, punctuation
 * gone, letters of any script (å, ä, ö, é, ...) and digits kept. NFC first,
 * so that an "é" written as e + combining accent is the same word as one
 * written as a single character; combining marks that NFC cannot fold (as in
 * Devanagari) stay part of their word. An apostrophe inside a word stays
 * ("don't"); at its edges it is a quotation mark and goes ('yes' → yes).
 */
export const normalizeWords = (text: string): string[] =>
  text
    .normalize("NFC")
    .toLowerCase()
    .replace(/[\u2018\u2019]/g, "'") // typographic apostrophes and single quotes
    .replace(/<\/?s>|\(\d+\)|\[\p{L}+\]/gu, " ") // recogniser markup: <s>, alternates "(2)", [noise]
    .replace(/[^\p{L}\p{M}\p{N}' ]+/gu, " ")
    .split(/\s+/)
    .map((word) => word.replace(/^'+|'+$/g, ""))
    .filter(Boolean);

export function wordErrors(reference: string[], hypothesis: string[]): number {
  let previous = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const current = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const substitution = previous[j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1);
      current.push(Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1));
    }
    previous = current;
  }
  return previous[hypothesis.length]!;
}

/** WER of several (reference, hypothesis) pairs taken together. */
export function corpusWer(pairs: { reference: string; hypothesis: string }[]): number {
  let errors = 0;
  let words = 0;
  for (const { reference, hypothesis } of pairs) {
    const ref = normalizeWords(reference);
    errors += wordErrors(ref, normalizeWords(hypothesis));
    words += ref.length;
  }
  return errors / words;
}

/** A final transcript segment as heard, with its words' start on the session's audio clock. */
export interface HeardFinal {
  segmentId: number;
  text: string;
  startMs: number;
  words: readonly { text: string; startMs: number }[];
}

/**
 * The hypothesis to judge: the finals in segment order, keeping only words
 * that start before `cutMs` (the end of the last play heard whole, when a
 * looped recording was stopped mid-play). Looped speech has no pause between
 * plays, so one final often spans several: the cut is per word, not per
 * segment. A segment without word timings is kept whole if it starts before the cut.
 */
export function heardHypothesis(finals: Iterable<HeardFinal>, cutMs = Number.POSITIVE_INFINITY): string {
  const kept: string[] = [];
  for (const f of [...finals].sort((a, b) => a.segmentId - b.segmentId)) {
    if (f.words.length === 0) {
      if (f.startMs < cutMs && f.text) kept.push(f.text);
      continue;
    }
    for (const w of f.words) if (w.startMs < cutMs) kept.push(w.text);
  }
  return kept.join(" ");
}
