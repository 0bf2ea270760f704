// After a customer's turn the AI asks one follow-up aimed at the weakest
// score part. The built-in planner picks from a small bank of natural
// questions: for the weakest part first, questions about a topic the
// customer raised before generic ones, and never one already asked (or a
// near-duplicate of one) in this conversation. It reads the transcript with
// the word lists of the conversation's language and asks in that language
// (phrases.ts, phrases.sv.ts); a language without word lists is asked in English.
import type { Logger } from "pino";
import { analyzeFeedback, type FeedbackFeatures, phrasesFor } from "./BuiltinScorer.ts";
import type { QuestionKey } from "./phrases.ts";
import { questionSimilarity } from "./text.ts";
import { abortedError, type FeedbackScoreResult, type ScorePart, type Topic, weakestParts } from "./types.ts";

export interface FollowUpInput {
  score: Pick<FeedbackScoreResult, "specificity" | "actionability" | "sentiment" | "relevance" | "topics">;
  /** The customer's words so far (final text). */
  transcript: string;
  /** Questions the AI already asked in this conversation. */
  asked: readonly string[];
  /** BCP 47 tag of the conversation's language ("sv-SE"): what the words are read by and asked in; absent: English. */
  language?: string | undefined;
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
/** A question that fits what was said (by its key in the phrase tables), or undefined. */
type Candidate = (f: FeedbackFeatures, tone: Tone) => QuestionKey | undefined;

const SPECIFICITY_BY_TOPIC: Partial<Record<Topic, Candidate[]>> = {
  waiting_time: [(f) => (f.hasDuration ? undefined : "howLongWaited"), () => "whileWaiting"],
  service: [() => "whoServed", () => "whatStaffDid"],
  product_quality: [(_, tone) => (tone === "negative" ? "whatWasWrong" : "whatWasGood")],
  price: [(f) => (f.hasMoney ? undefined : "whatPaid")],
  cleanliness: [() => "whichArea"],
  payment: [() => "whenPaying"],
  atmosphere: [() => "placeStoodOut"],
  availability: [() => "whatWasMissing"],
};

const GENERIC: Record<ScorePart, Candidate[]> = {
  specificity: [() => "stepByStep", (f) => (f.timeReferences.size > 0 ? undefined : "orderAndTime"), () => "oneMoment"],
  actionability: [
    (f, tone) => (tone === "negative" && f.topics.includes("waiting_time") ? "whyWaitLong" : undefined),
    (f, tone) => (tone === "negative" && f.topics.includes("payment") ? "easierPaying" : undefined),
    (_, tone) => (tone === "positive" ? "keepDoing" : "betterVisit"),
    (_, tone) => (tone === "positive" ? "evenBetter" : "oneChange"),
  ],
  relevance: [() => "whyCameIn", () => "howVisitWent", () => "storeShouldHear"],
  sentiment: [() => "overallFeeling", () => "comeBack"],
};

const toneOf = (sentiment: number): Tone =>
  sentiment < -0.15 ? "negative" : sentiment > 0.15 ? "positive" : "neutral";

/**
 * Questions in order of preference: weakest part first, the customer's topics
 * before generic ones; chosen from what the conversation's language's word
 * lists find in the transcript, and asked in that language.
 */
export function candidateFollowUps(input: Omit<FollowUpInput, "asked">): FollowUp[] {
  const f = analyzeFeedback(input.transcript, input.language);
  const questions = phrasesFor(input.language).questions;
  const tone = toneOf(input.score.sentiment);
  const topics = [...input.score.topics, ...f.topics.filter((t) => !input.score.topics.includes(t))];
  const out: FollowUp[] = [];
  for (const part of weakestParts(input.score)) {
    const bank =
      part === "specificity"
        ? [...topics.flatMap((t) => SPECIFICITY_BY_TOPIC[t] ?? []), ...GENERIC[part]]
        : GENERIC[part];
    for (const candidate of bank) {
      const key = candidate(f, tone);
      const text = key && questions[key];
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
