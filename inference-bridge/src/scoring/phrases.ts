// What the built-in parts say to the customer: the score's hint, the
// follow-up planner's questions and the end summary. These are the English
// phrases; other languages have their own file (phrases.sv.ts) with Phrases of
// the same shape. A table holds only words: which phrase is said is decided
// by the logic that uses it (builtinHint in BuiltinScorer.ts, FollowUpPlanner.ts,
// summary.ts), the same in every language. A table is chosen with the word
// lists (phrasesFor in BuiltinScorer.ts): by the conversation's primary
// language subtag; a language without word lists is spoken to in English.
import type { Topic } from "./types.ts";

/** Topics a strong score's hint invites the customer to cover, in the order they are invited. */
export const INVITED_TOPICS = ["service", "waiting_time", "product_quality", "cleanliness", "price"] as const;
export type InvitedTopic = (typeof INVITED_TOPICS)[number];

/** Hints: one short suggestion shown live, lower case, no full stop. */
export interface Hints {
  /** Nothing (or next to nothing) said yet. */
  readonly start: string;
  /** Every part strong: a topic not yet covered. */
  readonly invite: Readonly<Record<InvitedTopic, string>>;
  /** Every part strong and every invited topic covered. */
  readonly anythingElse: string;
  // Relevance.
  readonly aboutThisVisit: string;
  // Specificity: the detail missing for the topic raised, else a generic one.
  readonly howLongWaited: string;
  readonly whoServed: string;
  readonly whatOrdered: string;
  readonly whatItCost: string;
  readonly whichArea: string;
  readonly whenPaid: string;
  readonly whenAndWhat: string;
  readonly addDetail: string;
  // Actionability.
  readonly whyWaitLong: string;
  readonly whatWouldBeBetter: string;
  readonly whatToKeep: string;
  readonly oneChange: string;
  // Sentiment.
  readonly howItFelt: string;
}
/** A hint that is one phrase (not one per topic). */
export type HintKey = Exclude<keyof Hints, "invite">;

/** The built-in planner's spoken follow-up questions, which FollowUpPlanner.ts picks by key. */
export interface Questions {
  // Specificity, by the topic the customer raised.
  readonly howLongWaited: string;
  readonly whileWaiting: string;
  readonly whoServed: string;
  readonly whatStaffDid: string;
  readonly whatWasWrong: string;
  readonly whatWasGood: string;
  readonly whatPaid: string;
  readonly whichArea: string;
  readonly whenPaying: string;
  readonly placeStoodOut: string;
  readonly whatWasMissing: string;
  // Specificity, generic.
  readonly stepByStep: string;
  readonly orderAndTime: string;
  readonly oneMoment: string;
  // Actionability.
  readonly whyWaitLong: string;
  readonly easierPaying: string;
  readonly keepDoing: string;
  readonly betterVisit: string;
  readonly evenBetter: string;
  readonly oneChange: string;
  // Relevance.
  readonly whyCameIn: string;
  readonly howVisitWent: string;
  readonly storeShouldHear: string;
  // Sentiment.
  readonly overallFeeling: string;
  readonly comeBack: string;
}
export type QuestionKey = keyof Questions;

/** The end summary: "<tone> feedback about <topics>: <quote>." */
export interface SummaryPhrases {
  /** The tone word as the summary begins with it. */
  readonly tone: Readonly<Record<"positive" | "negative" | "mixed", string>>;
  readonly topics: Readonly<Record<Topic, string>>;
  /** In place of the topics when none was found. */
  readonly noTopic: string;
  /** The sentence around the tone, the topics (joined by ", ") and the customer's most specific clause. */
  readonly feedback: (tone: string, topics: string, quote: string) => string;
  /** The whole summary when nothing was said. */
  readonly nothingSaid: string;
}

/** Everything the built-in parts say in one language. */
export interface Phrases {
  /** Primary language subtag ("en", "sv"), as the Lexicon's. */
  readonly language: string;
  readonly hints: Hints;
  readonly questions: Questions;
  readonly summary: SummaryPhrases;
}

export const ENGLISH_PHRASES: Phrases = {
  language: "en",
  hints: {
    start: "tell us what happened on your visit",
    invite: {
      service: "say how the staff treated you",
      waiting_time: "say how long it took",
      product_quality: "say how your order was",
      cleanliness: "say how clean it was",
      price: "say if it was worth the price",
    },
    anythingElse: "add anything else they should know",
    aboutThisVisit: "tell us about this visit",
    howLongWaited: "say how long you waited",
    whoServed: "say who served you",
    whatOrdered: "say what you ordered",
    whatItCost: "say what it cost",
    whichArea: "say which area you mean",
    whenPaid: "say what happened when you paid",
    whenAndWhat: "say when it was and what you had",
    addDetail: "add a detail: what, who or which product",
    whyWaitLong: "say what made the wait long",
    whatWouldBeBetter: "say what would have made it better",
    whatToKeep: "say what they should keep doing",
    oneChange: "say one thing they could change",
    howItFelt: "say how the visit made you feel",
  },
  questions: {
    howLongWaited: "Roughly how long did you have to wait?",
    whileWaiting: "What was going on while you were waiting?",
    whoServed: "Who served you, and what did they do that stood out?",
    whatStaffDid: "What exactly did they say or do?",
    whatWasWrong: "What was wrong with it: the taste, the temperature, or something else?",
    whatWasGood: "Which item was it, and what made it good?",
    whatPaid: "What did you pay, and what would have felt fair?",
    whichArea: "Which area was it: the tables, the floor or the restrooms?",
    whenPaying: "What happened when you went to pay?",
    placeStoodOut: "What about the place stood out: the music, the seating, the noise?",
    whatWasMissing: "What were you looking for that wasn't there?",
    stepByStep: "Can you walk me through what happened, step by step?",
    orderAndTime: "What did you order, and roughly what time was it?",
    oneMoment: "Was there one moment that stood out?",
    whyWaitLong: "What do you think made the wait so long?",
    easierPaying: "What would have made paying easier?",
    keepDoing: "What should they make sure to keep doing?",
    betterVisit: "What would have made the visit better for you?",
    evenBetter: "Is there one small thing that would make it even better?",
    oneChange: "If you could change one thing about the store, what would it be?",
    whyCameIn: "Let's talk about today's visit: what did you come in for?",
    howVisitWent: "How did the visit itself go, from walking in to leaving?",
    storeShouldHear: "What's one thing from this visit you'd like the store to hear?",
    overallFeeling: "How did you feel about the visit overall?",
    comeBack: "Would you come back? Why or why not?",
  },
  summary: {
    tone: { positive: "Positive", negative: "Negative", mixed: "Mixed" },
    topics: {
      service: "service",
      waiting_time: "waiting time",
      cleanliness: "cleanliness",
      price: "price",
      product_quality: "product quality",
      payment: "payment",
      atmosphere: "atmosphere",
      availability: "availability",
    },
    noTopic: "general impression",
    feedback: (tone, topics, quote) => `${tone} feedback about ${topics}: "${quote}".`,
    nothingSaid: "No feedback was given.",
  },
};
