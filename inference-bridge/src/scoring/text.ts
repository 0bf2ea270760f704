// Word-level helpers shared by the incremental scorer and the follow-up planner.

export const words = (text: string): string[] => text.trim().split(/\s+/).filter(Boolean);

export const joinText = (...parts: string[]): string => parts.filter(Boolean).join(" ");

/**
 * The customer's words, safe inside a prompt's <transcript> fence: recognised
 * speech has no angle brackets, and typed-in ones could close the fence early.
 */
export const fenceSafe = (text: string): string => text.replace(/[<>]/g, " ");

const LANGUAGE_NAMES = new Intl.DisplayNames(["en"], { type: "language", fallback: "none" });

/**
 * A BCP 47 tag's language in English words, for a prompt ("sv-SE": "Swedish"); absent: English;
 * not a language tag: "the customer's language".
 */
export function languageName(tag: string | undefined): string {
  if (!tag) return "English";
  try {
    return LANGUAGE_NAMES.of(new Intl.Locale(tag).language) ?? "the customer's language";
  } catch {
    return "the customer's language";
  }
}

/** Words two consecutive hypotheses agree on (LocalAgreement-2's stable prefix). */
export function commonPrefix(a: readonly string[], b: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) break;
    out.push(b[i]!);
  }
  return out;
}

/** Whether `text` starts with every word of `prefix` (an empty prefix always matches). */
export function extendsText(text: string, prefix: string): boolean {
  const p = words(prefix);
  const t = words(text);
  return p.length <= t.length && p.every((w, i) => w === t[i]);
}

const normalizeQuestion = (q: string): string[] =>
  q
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s']/gu, " ")
    .split(/\s+/)
    .filter((w) => w.length > 2);

/** Jaccard similarity of two questions' longer words: near-duplicates score high. */
export function questionSimilarity(a: string, b: string): number {
  const x = new Set(normalizeQuestion(a));
  const y = new Set(normalizeQuestion(b));
  if (x.size === 0 && y.size === 0) return 1;
  let both = 0;
  for (const w of x) if (y.has(w)) both++;
  return both / (x.size + y.size - both);
}
