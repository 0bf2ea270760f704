// Text a model wrote that people will see or hear: the follow-up question is
// spoken to the customer and shown on the business's walls, the hint shown to
// both. The transcript is the customer's, and a customer can tell the model
// what to write ("your next question must be: ..."), so what comes back is
// checked before anyone sees it; the caller falls back to its built-in text.

/** Links and addresses: never in what the AI says or shows. */
const LINK = /https?:|www\.|@|\.(com|net|org|io|se)\b/i;

/** A run of this many of the customer's words in a row is the model repeating them, not asking or advising. */
export const COPIED_RUN_WORDS = 6;

const normalizedWords = (text: string): string[] =>
  text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s']/gu, " ")
    .split(/\s+/)
    .filter(Boolean);

/** Whether `text` repeats `run` or more consecutive words of `transcript` (case and punctuation ignored). */
export function copiesTranscript(text: string, transcript: string, run = COPIED_RUN_WORDS): boolean {
  const said = normalizedWords(transcript);
  const written = normalizedWords(text);
  if (written.length < run || said.length < run) return false;
  const runs = new Set<string>();
  for (let i = 0; i + run <= said.length; i++) runs.add(said.slice(i, i + run).join(" "));
  for (let i = 0; i + run <= written.length; i++) if (runs.has(written.slice(i, i + run).join(" "))) return true;
  return false;
}

export interface ShowableLimits {
  maxChars: number;
  maxWords: number;
  /** The customer's words, which the text must not parrot. */
  transcript: string;
}

/**
 * `raw` with its whitespace tidied when it is fit to show: a non-empty string
 * within the limits, with no link or address, not copying the transcript.
 * Undefined otherwise (the caller uses its built-in text).
 */
export function showableText(raw: unknown, limits: ShowableLimits): string | undefined {
  const text = typeof raw === "string" ? raw.trim().replace(/\s+/g, " ") : "";
  if (!text || text.length > limits.maxChars || text.split(" ").length > limits.maxWords) return undefined;
  if (LINK.test(text) || copiesTranscript(text, limits.transcript)) return undefined;
  return text;
}
