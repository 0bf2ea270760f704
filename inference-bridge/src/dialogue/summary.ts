// A short extractive summary of the customer's feedback, for the end screen
// and the record: the topics, then the sentence with the most concrete detail.
// Written in the conversation's language (the phrase tables beside the word
// lists: scoring/phrases.ts, phrases.sv.ts); English for a language without
// word lists.
import { analyzeFeedback, phrasesFor } from "../scoring/BuiltinScorer.ts";
import type { FeedbackScoreResult } from "../scoring/types.ts";

const MAX_WORDS = 30;

/**
 * `language`: BCP 47 tag of the transcript, whose word lists find its most
 * specific clause and whose phrases write the summary (default English).
 */
export function summarize(transcript: string, score: FeedbackScoreResult, language?: string): string {
  const say = phrasesFor(language).summary;
  const text = transcript.trim();
  if (!text) return say.nothingSaid;
  // ASR output has no punctuation: treat every ~12 words as a clause and keep the most specific one.
  const words = text.split(/\s+/);
  let best = "";
  let bestDetail = -1;
  for (let at = 0; at < words.length; at += 12) {
    const clause = words.slice(at, at + 12).join(" ");
    const f = analyzeFeedback(clause, language);
    const detail = f.referents.size + f.quantities + f.timeReferences.size + f.problems.size + f.suggestions.size;
    if (detail > bestDetail) {
      bestDetail = detail;
      best = clause;
    }
  }
  const quote = best.split(/\s+/).slice(0, MAX_WORDS).join(" ");
  const topics = score.topics.length ? score.topics.map((t) => say.topics[t]).join(", ") : say.noTopic;
  const tone = score.sentiment > 0.25 ? "positive" : score.sentiment < -0.25 ? "negative" : "mixed";
  return say.feedback(say.tone[tone], topics, quote);
}
