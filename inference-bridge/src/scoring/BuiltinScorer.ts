// The built-in scoring engine: deterministic, no network, microseconds per
// score. It is the embedded default and the fallback when Ollama fails.
//
// Rubric (full text in RUBRIC.md):
//   specificity   = 1 − e^(−points/4); points: each named thing or role 1 (vague
//                   ones 0.4), each quantity 0.8 (+0.6 with a unit), each time
//                   reference 0.7, each causal link 0.4, each problem or good
//                   action 0.3, each distinct content word 0.08 (capped).
//   actionability = 1 − e^(−points/2.5); points: each problem 1, each
//                   suggestion 1.3, each specific good action 0.6, a cause
//                   given for a problem 0.5, a wait with its duration 0.3;
//                   ×0.4 when nothing names a topic or a thing.
//   sentiment     = tanh(½ Σ word weights), negation flips (×−0.6), intensifiers ×1.5;
//                   a state said of something ("was full") weighs −0.8 and is a problem.
//   relevance     = 0.35 + 0.65(1 − e^(−visit words/2.5)) (0.35 with only an
//                   opinion, 0.1 with nothing), reduced by the share of
//                   off-topic words (×(1 − 0.7 share)) and fillers (×(1 − 0.6 ratio)).
//   score         = 100 × (½ + ½ min(1, content words/10))
//                   × (0.35 spec + 0.30 act + 0.20 rel + 0.10 topic coverage + 0.05 clarity),
//                   topic coverage = min(1, topics/2), clarity = min(1, 2|sentiment|).
//   topics        = keyword families, in order of first mention.
//   hint          = aimed at the weakest part and at the detail its topic lacks.
//   language      = the word lists are chosen by the transcript's primary
//                   language subtag (en, sv; none given: en). For a language
//                   without lists only digits and distinct words count, sentiment
//                   is 0 and relevance a neutral 0.5: the rubric does not
//                   pretend to read it. What the built-in parts say (hints,
//                   questions, summary) comes in the language of the word
//                   lists (phrases.ts, phrases.sv.ts); without lists, English.

import { SWEDISH } from "./lexicon.sv.ts";
import { ENGLISH, type Lexicon } from "./lexicon.ts";
import { SWEDISH_PHRASES } from "./phrases.sv.ts";
import { ENGLISH_PHRASES, INVITED_TOPICS, type Phrases } from "./phrases.ts";
import {
  abortedError,
  type FeedbackScoreResult,
  type ScoringEngine,
  TOPICS,
  type Topic,
  weakestParts,
} from "./types.ts";

/** What the rubric counts in one transcript; exported for the follow-up planner. */
export interface FeedbackFeatures {
  /** The language whose word lists read the text ("en", "sv"); undefined when the rubric has none for it. */
  language: string | undefined;
  tokens: number;
  contentWords: number;
  referents: Set<string>;
  vagueReferents: Set<string>;
  quantities: number;
  quantitiesWithUnit: number;
  timeReferences: Set<string>;
  causal: number;
  problems: Set<string>;
  suggestions: Set<string>;
  goodActions: Set<string>;
  visitWords: Set<string>;
  offTopic: number;
  fillers: number;
  opinions: number;
  sentimentSum: number;
  topics: Topic[];
  hasDuration: boolean;
  hasMoney: boolean;
  /** Concrete details: named things and roles, quantities, time references, problems and good actions. */
  detailCount: number;
}

/** A lexicon with what is derived from it once, and the phrases the built-in parts say in its language. */
interface Rubric {
  lex: Lexicon;
  wordTopics: Map<string, Topic[]>;
  products: Set<string>;
  phrases: Phrases;
}

const prepare = (lex: Lexicon, phrases: Phrases): Rubric => {
  const wordTopics = new Map<string, Topic[]>();
  for (const topic of TOPICS) {
    for (const w of lex.topicWords[topic]) wordTopics.set(w, [...(wordTopics.get(w) ?? []), topic]);
  }
  const products = new Set(lex.topicWords.product_quality.filter((w) => lex.referents.has(w)));
  return { lex, wordTopics, products, phrases };
};

const none: ReadonlySet<string> = new Set();
/**
 * For a language without word lists: nothing but digits and distinct words is
 * recognised, and the customer is spoken to in English (no phrases either).
 */
const UNREAD = prepare(
  {
    language: "",
    topicWords: Object.fromEntries(TOPICS.map((t): [Topic, string[]] => [t, []])) as Record<Topic, string[]>,
    topicPairs: new Map(),
    referents: none,
    vagueReferents: none,
    numberWords: none,
    notNumberAfter: new Map(),
    articles: none,
    vagueQuantities: none,
    units: none,
    timeUnits: none,
    moneyUnits: none,
    timeReferences: none,
    causal: none,
    causalOnlyBefore: new Map(),
    problems: none,
    problemPairs: none,
    suggestions: none,
    suggestionPairs: none,
    goodActions: none,
    expectations: none,
    visitWords: none,
    offTopic: none,
    fillers: none,
    fillerPairs: none,
    negators: none,
    negationBarriers: none,
    postNegated: none,
    postNegationSkip: none,
    intensifiers: none,
    likeVerbs: none,
    likeFiller: undefined,
    likeSubjects: none,
    stopwords: none,
    sentiment: new Map(),
    longWords: none,
    longAfter: none,
    stateProblems: none,
    stateAfter: none,
    stateNotBefore: none,
    staff: none,
    places: none,
  },
  ENGLISH_PHRASES,
);
const RUBRICS = new Map(
  (
    [
      [ENGLISH, ENGLISH_PHRASES],
      [SWEDISH, SWEDISH_PHRASES],
    ] as const
  ).map(([lex, phrases]) => [lex.language, prepare(lex, phrases)]),
);

/** The primary subtag of a BCP 47 language tag, lower case: "sv-SE" → "sv"; "" when none is given. */
const primaryLanguage = (tag: string | undefined): string => (tag ?? "").trim().split(/[-_]/)[0]!.toLowerCase();

const rubricFor = (language: string | undefined): Rubric => {
  const primary = primaryLanguage(language);
  return primary === "" ? RUBRICS.get("en")! : (RUBRICS.get(primary) ?? UNREAD);
};

/** The rubric whose word lists read `f` (UNREAD: none did). */
const rubricOf = (f: FeedbackFeatures): Rubric => RUBRICS.get(f.language ?? "") ?? UNREAD;

/**
 * What the built-in parts say to a customer in `language` (BCP 47, chosen as
 * the word lists are: "sv-SE", "sv", "SV" alike; none given: English). A
 * language without word lists gets English, as it did before it had a rubric.
 */
export const phrasesFor = (language: string | undefined): Phrases => rubricFor(language).phrases;

const TOKEN = /[\p{L}\p{N}]+(?:'\p{L}+)?/gu;
const NUMBER = /^\d+(?:[.,]\d+)?$/;

const add = (topics: Topic[], t: Topic) => {
  if (!topics.includes(t)) topics.push(t);
};

/**
 * One pass over the words; every lookup is a Set/Map hit, hence thousands of
 * scores per second. `language`: BCP 47 tag of the transcript (default English).
 */
export function analyzeFeedback(text: string, language?: string): FeedbackFeatures {
  return analyze(text, rubricFor(language));
}

function analyze(text: string, { lex, wordTopics }: Rubric): FeedbackFeatures {
  const tokens = text.toLowerCase().replace(/’/g, "'").match(TOKEN) ?? [];
  const f: FeedbackFeatures = {
    language: lex.language || undefined,
    tokens: tokens.length,
    contentWords: 0,
    referents: new Set(),
    vagueReferents: new Set(),
    quantities: 0,
    quantitiesWithUnit: 0,
    timeReferences: new Set(),
    causal: 0,
    problems: new Set(),
    suggestions: new Set(),
    goodActions: new Set(),
    visitWords: new Set(),
    offTopic: 0,
    fillers: 0,
    opinions: 0,
    sentimentSum: 0,
    topics: [],
    hasDuration: false,
    hasMoney: false,
    detailCount: 0,
  };
  const content = new Set<string>();
  for (let i = 0; i < tokens.length; i++) {
    const w = tokens[i]!;
    const prev = tokens[i - 1] ?? "";
    const next = tokens[i + 1] ?? "";
    const pair = `${w} ${next}`;

    if (lex.fillerPairs.has(pair)) {
      f.fillers += 2;
      i++;
      continue;
    }
    const likeVerb = lex.likeVerbs.has(w) && lex.likeSubjects.has(prev);
    if (lex.fillers.has(w) || (w === lex.likeFiller && !likeVerb)) {
      f.fillers++;
      continue;
    }
    // Negated within three words, not across a "but"; or, for a verb whose
    // negation follows it (Swedish "fungerade inte"), by the next word.
    let negated = false;
    for (let j = i - 1; j >= Math.max(0, i - 3); j--) {
      const t = tokens[j]!;
      if (lex.negationBarriers.has(t)) break;
      if (lex.negators.has(t)) {
        negated = true;
        break;
      }
    }
    if (!negated && lex.postNegated.has(w)) {
      const after = lex.postNegationSkip.has(next) ? (tokens[i + 2] ?? "") : next;
      negated = lex.negators.has(next) || lex.negators.has(after);
    }

    let weight = likeVerb ? 1 : lex.sentiment.get(w);
    const longWait =
      lex.longWords.has(w) &&
      (lex.intensifiers.has(prev) || wordTopics.get(next)?.[0] === "waiting_time" || lex.longAfter.has(prev));
    if (longWait) {
      weight = -0.6;
      add(f.topics, "waiting_time");
    }
    const badState =
      lex.stateProblems.has(w) &&
      (lex.stateAfter.has(prev) || lex.intensifiers.has(prev)) &&
      !lex.stateNotBefore.has(next);
    if (badState) weight = -0.8;
    if (weight !== undefined) {
      f.opinions++;
      const intensity = lex.intensifiers.has(prev) ? 1.5 : 1;
      if (negated && weight > 0) f.problems.add(`not ${w}`); // "wasn't clean"
      f.sentimentSum += (negated ? -0.6 * weight : weight) * intensity;
    }
    if (!negated && (lex.problems.has(w) || longWait || badState)) f.problems.add(w);
    if (negated && lex.expectations.has(w)) {
      f.problems.add(`not ${w}`); // "didn't work", "never came"
      f.sentimentSum -= 0.8;
    }
    if (lex.problemPairs.has(pair)) f.problems.add(pair);
    if (lex.suggestions.has(w)) f.suggestions.add(w);
    if (lex.suggestionPairs.has(pair)) f.suggestions.add(pair);
    if (!negated && lex.goodActions.has(w)) f.goodActions.add(w);

    const pairTopic = lex.topicPairs.get(pair);
    if (pairTopic) add(f.topics, pairTopic);
    const topics = wordTopics.get(w);
    if (topics) for (const t of topics) add(f.topics, t);
    if (lex.referents.has(w)) f.referents.add(w);
    else if (lex.vagueReferents.has(w)) f.vagueReferents.add(w);
    if (topics || lex.referents.has(w) || lex.visitWords.has(w)) f.visitWords.add(w);
    if (lex.offTopic.has(w)) f.offTopic++;

    const isNumber = NUMBER.test(w) || (lex.numberWords.has(w) && !lex.notNumberAfter.get(w)?.has(prev));
    const quantityBeforeUnit =
      isNumber || lex.vagueQuantities.has(w) || (lex.articles.has(w) && lex.timeUnits.has(next));
    if (isNumber) f.quantities++;
    if (quantityBeforeUnit && lex.units.has(next)) {
      f.quantitiesWithUnit++;
      if (lex.timeUnits.has(next)) f.hasDuration = true;
      if (lex.moneyUnits.has(next)) f.hasMoney = true;
    }
    if (lex.timeReferences.has(w)) f.timeReferences.add(w);
    if (lex.causal.has(w) && (lex.causalOnlyBefore.get(w)?.has(next) ?? true)) f.causal++;
    if (!lex.stopwords.has(w)) content.add(w);
  }
  f.contentWords = content.size;
  f.detailCount = f.referents.size + f.quantities + f.timeReferences.size + f.problems.size + f.goodActions.size;
  return f;
}

/** Relevance of a transcript in a language the rubric has no word lists for: neither on nor off topic. */
const UNREAD_RELEVANCE = 0.5;
const saturate = (points: number, scale: number) => 1 - Math.exp(-points / scale);
const capped = (n: number, max: number) => Math.min(n, max);
const round2 = (x: number) => Math.round(x * 100) / 100;

export function scoreFeatures(f: FeedbackFeatures): Omit<FeedbackScoreResult, "engine"> {
  if (f.tokens === 0) {
    return {
      score: 0,
      specificity: 0,
      actionability: 0,
      sentiment: 0,
      relevance: 0,
      topics: [],
      hint: rubricOf(f).phrases.hints.start,
    };
  }
  const specificity = saturate(
    capped(f.referents.size, 5) +
      0.4 * capped(f.vagueReferents.size, 2) +
      0.8 * capped(f.quantities, 3) +
      0.6 * capped(f.quantitiesWithUnit, 2) +
      0.7 * capped(f.timeReferences.size, 2) +
      0.4 * capped(f.causal, 2) +
      0.3 * capped(f.problems.size + f.goodActions.size, 3) +
      0.08 * capped(f.contentWords, 25),
    4,
  );
  const grounded = f.topics.length > 0 || f.referents.size > 0;
  const actionability =
    saturate(
      capped(f.problems.size, 3) +
        1.3 * capped(f.suggestions.size, 2) +
        0.6 * capped(f.goodActions.size, 2) +
        (f.causal > 0 && f.problems.size > 0 ? 0.5 : 0) +
        (f.hasDuration && f.topics.includes("waiting_time") ? 0.3 : 0),
      2.5,
    ) * (grounded ? 1 : 0.4);
  const sentiment = Math.tanh(f.sentimentSum / 2);
  const visit = f.visitWords.size;
  const base = visit === 0 ? (f.opinions > 0 ? 0.35 : 0.1) : 0.35 + 0.65 * saturate(visit, 2.5);
  const offShare = f.offTopic === 0 ? 0 : f.offTopic / (f.offTopic + visit);
  const relevance =
    f.language === undefined
      ? UNREAD_RELEVANCE // no word lists: whether it is about the visit is not judged
      : base * (1 - 0.7 * offShare) * (1 - (0.6 * f.fillers) / f.tokens);
  const lengthFactor = 0.5 + 0.5 * Math.min(1, f.contentWords / 10);
  const weighted =
    0.35 * specificity +
    0.3 * actionability +
    0.2 * relevance +
    0.1 * Math.min(1, f.topics.length / 2) +
    0.05 * Math.min(1, 2 * Math.abs(sentiment));
  const parts = {
    specificity: round2(specificity),
    actionability: round2(actionability),
    sentiment: round2(sentiment),
    relevance: round2(relevance),
  };
  return {
    score: Math.round(100 * lengthFactor * weighted),
    ...parts,
    topics: f.topics,
    hint: builtinHint(f, parts),
  };
}

/**
 * One short suggestion aimed at the weakest part and, where known, at the
 * detail missing for its topic; in the language of the word lists that read `f`.
 */
export function builtinHint(
  f: FeedbackFeatures,
  parts: Pick<FeedbackScoreResult, "specificity" | "actionability" | "sentiment" | "relevance">,
): string {
  const { lex, products, phrases } = rubricOf(f);
  const hint = phrases.hints;
  if (f.contentWords < 3 && f.topics.length === 0) return hint.start;
  const has = (t: Topic) => f.topics.includes(t);
  if (Math.min(parts.specificity, parts.actionability, parts.relevance) >= 0.75) {
    const missing = INVITED_TOPICS.find((t) => !has(t));
    return missing ? hint.invite[missing] : hint.anythingElse;
  }
  const any = (set: Set<string>, of: ReadonlySet<string>) => [...set].some((w) => of.has(w));
  switch (weakestParts(parts)[0]) {
    case "relevance":
      return hint.aboutThisVisit;
    case "specificity":
      if (has("waiting_time") && !f.hasDuration) return hint.howLongWaited;
      if (has("service") && !any(f.referents, lex.staff)) return hint.whoServed;
      if (has("product_quality") && !any(f.referents, products)) return hint.whatOrdered;
      if (has("price") && !f.hasMoney) return hint.whatItCost;
      if (has("cleanliness") && !any(f.referents, lex.places)) return hint.whichArea;
      if (has("payment")) return hint.whenPaid;
      return f.timeReferences.size === 0 ? hint.whenAndWhat : hint.addDetail;
    case "actionability":
      if (has("waiting_time") && parts.sentiment < 0) return hint.whyWaitLong;
      if (f.problems.size > 0 || parts.sentiment < -0.2) return hint.whatWouldBeBetter;
      if (parts.sentiment > 0.2) return hint.whatToKeep;
      return hint.oneChange;
    default:
      return hint.howItFelt;
  }
}

export interface BuiltinScorerOptions {
  /** BCP 47 tag of the conversation's language ("sv-SE"); absent or empty: English. */
  language?: string | undefined;
}

export class BuiltinScorer implements ScoringEngine {
  readonly name = "builtin";
  readonly language: string | undefined;
  /** Whether the rubric has word lists for this language; if not, it judges only what needs no words. */
  readonly reads: boolean;
  readonly #rubric: Rubric;

  constructor(options: BuiltinScorerOptions = {}) {
    this.language = options.language || undefined;
    this.#rubric = rubricFor(this.language);
    this.reads = this.#rubric !== UNREAD;
  }

  /** Synchronous core, for callers that need no promise (benchmarks, the planner). */
  scoreSync(text: string): FeedbackScoreResult {
    return { ...scoreFeatures(analyze(text, this.#rubric)), engine: this.name };
  }

  score(text: string, signal: AbortSignal): Promise<FeedbackScoreResult> {
    if (signal.aborted) return Promise.reject(abortedError(signal));
    return Promise.resolve(this.scoreSync(text));
  }

  /** This rubric for a conversation in `language` (same name: a FallbackScorer recognises its fallback by it). */
  forLanguage(language: string | undefined): BuiltinScorer {
    return new BuiltinScorer({ language });
  }
}
