// After a customer's turn the AI asks one follow-up aimed at the weakest
// score part. The built-in planner picks from a small bank of natural
// questions: for the weakest part first, questions about a topic the
// customer raised before generic ones, and never one already asked (or a
// near-duplicate of one) in this conversation.
import type { Logger } from "pino";
import { analyzeFeedback, type FeedbackFeatures } from "./BuiltinScorer.ts";
import { questionSimilarity } from "./text.ts";
import { abortedError, type FeedbackScoreResult, type ScorePart, type Topic, weakestParts } from "./types.ts";

export interface FollowUpInput {
  score: Pick<FeedbackScoreResult, "specificity" | "actionability" | "sentiment" | "relevance" | "topics">;
  /** The customer's words so far (final text). */
  transcript: string;
  /** Questions the AI already asked in this conversation. */
  asked: readonly string[];
}

export interface FollowUp {
  text: string;
  /** The score part the question tries to raise (AiTurn.aimed_at). */
  aimedAt: ScorePart;
}

export interface FollowUpPlanner {
  readonly name: string;
  /** One question, or undefined when every fitting question was already asked; `log` as for ScoringEngine.score. */
  plan(input: FollowUpInput, signal: AbortSignal, log?: Logger): Promise<FollowUp | undefined>;
}

/** Questions this close to one already asked count as repeats. */
export const REPEAT_SIMILARITY = 0.5;

export const isRepeat = (question: string, asked: readonly string[]): boolean =>
  asked.some((q) => questionSimilarity(q, question) >= REPEAT_SIMILARITY);

type Tone = "negative" | "positive" | "neutral";
type Candidate = (f: FeedbackFeatures, tone: Tone) => string | undefined;

const SPECIFICITY_BY_TOPIC: Partial<Record<Topic, Candidate[]>> = {
  waiting_time: [
    (f) => (f.hasDuration ? undefined : "Roughly how long did you have to wait?"),
    () => "What was going on while you were waiting?",
  ],
  service: [() => "Who served you, and what did they do that stood out?", () => "What exactly did they say or do?"],
  product_quality: [
    (_, tone) =>
      tone === "negative"
        ? "What was wrong with it: the taste, the temperature, or something else?"
        : "Which item was it, and what made it good?",
  ],
  price: [(f) => (f.hasMoney ? undefined : "What did you pay, and what would have felt fair?")],
  cleanliness: [() => "Which area was it: the tables, the floor or the restrooms?"],
  payment: [() => "What happened when you went to pay?"],
  atmosphere: [() => "What about the place stood out: the music, the seating, the noise?"],
  availability: [() => "What were you looking for that wasn't there?"],
};

const GENERIC: Record<ScorePart, Candidate[]> = {
  specificity: [
    () => "Can you walk me through what happened, step by step?",
    (f) => (f.timeReferences.size > 0 ? undefined : "What did you order, and roughly what time was it?"),
    () => "Was there one moment that stood out?",
  ],
  actionability: [
    (f, tone) =>
      tone === "negative" && f.topics.includes("waiting_time") ? "What do you think made the wait so long?" : undefined,
    (f, tone) =>
      tone === "negative" && f.topics.includes("payment") ? "What would have made paying easier?" : undefined,
    (_, tone) =>
      tone === "positive"
        ? "What should they make sure to keep doing?"
        : "What would have made the visit better for you?",
    (_, tone) =>
      tone === "positive"
        ? "Is there one small thing that would make it even better?"
        : "If you could change one thing about the store, what would it be?",
  ],
  relevance: [
    () => "Let's talk about today's visit: what did you come in for?",
    () => "How did the visit itself go, from walking in to leaving?",
    () => "What's one thing from this visit you'd like the store to hear?",
  ],
  sentiment: [() => "How did you feel about the visit overall?", () => "Would you come back? Why or why not?"],
};

const toneOf = (sentiment: number): Tone =>
  sentiment < -0.15 ? "negative" : sentiment > 0.15 ? "positive" : "neutral";

/** Questions in order of preference: weakest part first, the customer's topics before generic ones. */
export function candidateFollowUps(input: Omit<FollowUpInput, "asked">): FollowUp[] {
  const f = analyzeFeedback(input.transcript);
  const tone = toneOf(input.score.sentiment);
  const topics = [...input.score.topics, ...f.topics.filter((t) => !input.score.topics.includes(t))];
  const out: FollowUp[] = [];
  for (const part of weakestParts(input.score)) {
    const bank =
      part === "specificity"
        ? [...topics.flatMap((t) => SPECIFICITY_BY_TOPIC[t] ?? []), ...GENERIC[part]]
        : GENERIC[part];
    for (const candidate of bank) {
      const text = candidate(f, tone);
      if (text && !out.some((q) => q.text === text)) out.push({ text, aimedAt: part });
    }
  }
  return out;
}

export class BuiltinFollowUpPlanner implements FollowUpPlanner {
  readonly name = "builtin";

  planSync(input: FollowUpInput): FollowUp | undefined {
    return candidateFollowUps(input).find((q) => !isRepeat(q.text, input.asked));
  }

  plan(input: FollowUpInput, signal: AbortSignal): Promise<FollowUp | undefined> {
    if (signal.aborted) return Promise.reject(abortedError(signal));
    return Promise.resolve(this.planSync(input));
  }
}
