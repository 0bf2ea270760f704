// Word families of the built-in rubric (see RUBRIC.md). Transcripts come from
// speech recognition: lower case, no punctuation, numbers often spelled out,
// so every entry is a lower-case word and phrases are matched as word pairs.
// These are the English lists; other languages have their own file
// (lexicon.sv.ts) with a Lexicon of the same shape (end of this file).
import type { Topic } from "./types.ts";

export const list = (s: string): string[] => s.trim().split(/\s+/);

export const TOPIC_WORDS: Record<Topic, string[]> = {
  service: list(`service served serve serving staff barista baristas waiter waitress waiters server servers cashier
    cashiers employee employees manager assistant clerk bartender host hostess chef cook team rude friendly
    unfriendly polite impolite helpful unhelpful attentive welcoming greeted greet smiled smile ignored remembered
    attitude apologized apologised apology knowledgeable recommended explained`),
  waiting_time: list(`wait waited waiting queue queued queueing line slow slowly quick quickly fast forever ages delay
    delayed late minutes minute mins hour hours seconds speed prompt promptly`),
  cleanliness: list(`clean cleaned cleaning dirty messy mess sticky tidy untidy filthy spotless toilet toilets bathroom
    bathrooms restroom restrooms floor floors hygiene hygienic smell smelled smelly stain stains stained crumbs trash
    rubbish bin bins dust dusty wiped gross disgusting`),
  price:
    list(`price prices priced expensive cheap cheaper costly cost costs overpriced pricey value money dollars dollar
    euros euro pounds kronor crowns bucks cents charge charged overcharged bill discount deal affordable worth`),
  product_quality: list(`taste tasted tasty tasteless flavor flavour delicious bland fresh stale burnt burned cold warm
    soggy undercooked overcooked raw quality coffee latte cappuccino espresso americano mocha tea chai food meal
    sandwich croissant pastry pastries cake muffin bagel burger pizza salad soup fries bread cookie smoothie juice
    drink drinks portion milk product products item items defective`),
  payment: list(`card reader terminal payment pay paid paying contactless cash checkout till receipt refund refunded app
    machine declined`),
  atmosphere: list(`music noise noisy loud quiet atmosphere ambience ambiance seating seat seats chairs chair crowded
    busy cozy cosy lighting decor temperature comfortable uncomfortable`),
  availability: list(`stock unavailable available`),
};

/** Word pairs that name a topic on their own ("ran out", "sold out"). */
export const TOPIC_PAIRS: Record<string, Topic> = {
  "ran out": "availability",
  "run out": "availability",
  "sold out": "availability",
  "out of": "availability",
  "card reader": "payment",
  "took forever": "waiting_time",
  "took ages": "waiting_time",
};

// Concrete things and people: each distinct one adds specificity.
export const REFERENTS = new Set(
  list(`barista baristas waiter waitress cashier manager clerk bartender chef cook assistant coffee latte cappuccino
    espresso americano mocha tea chai sandwich croissant pastry pastries cake muffin bagel burger pizza salad soup fries
    bread cookie smoothie juice milk sugar napkins napkin cup lid straw order receipt card reader terminal till
    machine app toilet toilets bathroom restroom table tables floor door window counter menu shelf shelves aisle
    fridge basket trolley cart bag bags name register drive parking`),
);
/** People and things named only vaguely: half weight. */
export const VAGUE_REFERENTS = new Set(
  list(`staff food drink drinks product products item items place store shop people someone guy girl lady man woman
    employee employees team server service meal`),
);

export const NUMBER_WORDS = new Set(
  list(`one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
    eighteen nineteen twenty thirty forty fifty sixty hundred thousand half twice thrice dozen`),
);
export const VAGUE_QUANTITIES = new Set(list("few couple several"));
export const UNITS = new Set(
  list(`second seconds minute minutes mins hour hours dollars dollar euros euro pounds kronor crowns bucks cents times
    percent`),
);
export const TIME_REFERENCES = new Set(
  list(`today yesterday tonight morning afternoon evening night lunch lunchtime breakfast dinner noon midday o'clock
    am pm monday tuesday wednesday thursday friday saturday sunday weekend earlier`),
);
/** Words that tie an observation to its cause or consequence. */
export const CAUSAL = new Set(list("because since so therefore meaning which until after when"));

// Something went wrong: the business can act on it.
export const PROBLEMS = new Set(
  list(`failed fail fails failing broken broke wrong missing forgot forgotten ignored rude slow dirty sticky messy cold
    stale burnt burned overcharged late mistake error spilled spilt crashed declined lost waited queued unavailable
    noisy loud expensive overpriced leaking smelly bland soggy undercooked raw problem problems issue issues
    confusing confused understaffed crowded filthy gross disgusting unfriendly unhelpful impolite lukewarm empty
    cancelled canceled refused`),
);
export const PROBLEM_PAIRS = new Set(["ran out", "run out", "sold out", "out of", "took forever", "took ages"]);

// A suggestion: the customer says what to change.
export const SUGGESTIONS = new Set(
  list(`should wish suggest suggestion suggestions need needs please improve hire train training fix instead maybe
    hope ought`),
);
export const SUGGESTION_PAIRS = new Set(["be nice", "better if", "more staff", "would like", "could use", "it'd be"]);

// Specific good behaviour: something to keep doing.
export const GOOD_ACTIONS = new Set(
  list(`remembered recommended helped explained greeted offered noticed thanked apologized apologised replaced refunded
    fixed suggested checked`),
);

/** Verbs whose negation is a problem ("didn't work", "never came"). */
export const EXPECTATIONS = new Set(
  list(`work works worked working come came arrive arrived get got receive received answer answered help helped
    greet greeted listen listened apologize apologise apologized apologised bring brought say said call called`),
);

export const VISIT_WORDS = new Set(
  list(`visit visited came come went stopped popped ordered order orders bought buy purchase purchased picked store
    shop cafe café restaurant branch location counter inside today here paid`),
);

export const OFF_TOPIC = new Set(
  list(`weather rain raining sunny snow football soccer match game politics election president movie movies film
    netflix tv television dog cat holiday vacation traffic school homework girlfriend boyfriend news crypto bitcoin
    celebrity podcast`),
);

export const FILLERS = new Set(
  list("um uh er erm ah hmm mm mhm uhm yeah okay ok whatever basically literally anyway stuff dunno blah"),
);
export const FILLER_PAIRS = new Set(["you know", "i mean", "kind of", "sort of", "i guess", "so yeah"]);

export const NEGATORS = new Set(
  list(`not no never didn't don't doesn't wasn't weren't isn't aren't couldn't can't cannot won't wouldn't hardly
    barely without nothing nobody`),
);
export const INTENSIFIERS = new Set(list("very really so super extremely incredibly absolutely too totally"));
/** After these "like" is a verb ("i like"), otherwise a filler. */
export const LIKE_SUBJECTS = new Set(list("i we really didn't don't would i'd they"));

export const STOPWORDS = new Set(
  list(`a an the and or but it is was were be been being i me my we our us you your they them their he she him her
    his this that these those to of in on at for with as by from up about into over just also then there had have has
    do did does am are its it's i'm that's there's what which who how if would could can will get got bit thing
    things all some any very really quite too so like well`),
);

// Sentiment weights; "fine" and "okay" are only mildly positive on purpose.
export const SENTIMENT: Record<string, number> = {
  good: 1,
  great: 1.5,
  excellent: 2,
  amazing: 2,
  awesome: 1.5,
  fantastic: 2,
  wonderful: 2,
  lovely: 1.5,
  nice: 1,
  friendly: 1,
  helpful: 1,
  kind: 0.5,
  polite: 1,
  delicious: 1.5,
  tasty: 1,
  fresh: 0.8,
  clean: 0.8,
  spotless: 1.2,
  tidy: 0.8,
  quick: 0.8,
  fast: 0.8,
  efficient: 1,
  happy: 1,
  pleased: 1,
  love: 1.5,
  loved: 1.5,
  liked: 1,
  enjoy: 1,
  enjoyed: 1,
  perfect: 2,
  best: 1.5,
  recommend: 1,
  cozy: 0.8,
  cosy: 0.8,
  welcoming: 1,
  attentive: 1,
  remembered: 0.6,
  fine: 0.4,
  decent: 0.5,
  thanks: 0.5,
  smiled: 0.6,
  affordable: 0.8,
  impressed: 1.5,
  comfortable: 0.8,
  professional: 1,
  reasonable: 0.6,
  bad: -1,
  terrible: -2,
  awful: -2,
  horrible: -2,
  poor: -1,
  worst: -2,
  rude: -1.5,
  unfriendly: -1.2,
  unhelpful: -1.2,
  impolite: -1.2,
  dirty: -1.2,
  filthy: -2,
  messy: -1,
  sticky: -0.8,
  slow: -1,
  cold: -0.6,
  lukewarm: -0.6,
  stale: -1,
  burnt: -1,
  bland: -0.8,
  soggy: -0.8,
  disappointing: -1.5,
  disappointed: -1.5,
  annoyed: -1.2,
  annoying: -1.2,
  angry: -1.5,
  frustrated: -1.2,
  frustrating: -1.2,
  upset: -1.2,
  hate: -1.5,
  hated: -1.5,
  failed: -1,
  broken: -1,
  wrong: -1,
  overpriced: -1,
  expensive: -0.6,
  forgot: -0.8,
  ignored: -1.2,
  waited: -0.4,
  late: -0.6,
  mistake: -0.8,
  problem: -0.8,
  noisy: -0.6,
  loud: -0.5,
  crowded: -0.5,
  gross: -1.5,
  disgusting: -2,
  smelly: -1.2,
  unacceptable: -2,
  useless: -1.5,
  lazy: -1.2,
  confusing: -0.8,
  declined: -0.6,
  crashed: -0.8,
};

/** Staff roles, places: which detail a hint asks for (BuiltinScorer's hint). */
export const STAFF = new Set(
  list("barista baristas waiter waitress cashier manager clerk bartender chef cook assistant name"),
);
export const PLACES = new Set(list("toilet toilets bathroom restroom table tables floor door window counter"));

/** Everything the rubric needs to read one language: word families plus the few rules that differ by language. */
export interface Lexicon {
  /** Primary language subtag ("en", "sv"). */
  readonly language: string;
  readonly topicWords: Record<Topic, string[]>;
  readonly topicPairs: ReadonlyMap<string, Topic>;
  readonly referents: ReadonlySet<string>;
  readonly vagueReferents: ReadonlySet<string>;
  readonly numberWords: ReadonlySet<string>;
  /** Number words that are no number after these words ("no one", "the one"). */
  readonly notNumberAfter: ReadonlyMap<string, ReadonlySet<string>>;
  /** Articles that count as "one" before a time unit ("an hour", "en timme"). */
  readonly articles: ReadonlySet<string>;
  readonly vagueQuantities: ReadonlySet<string>;
  readonly units: ReadonlySet<string>;
  readonly timeUnits: ReadonlySet<string>;
  readonly moneyUnits: ReadonlySet<string>;
  readonly timeReferences: ReadonlySet<string>;
  readonly causal: ReadonlySet<string>;
  /** Causal words that count only before one of these words ("so i ...", "för att"). */
  readonly causalOnlyBefore: ReadonlyMap<string, ReadonlySet<string>>;
  readonly problems: ReadonlySet<string>;
  readonly problemPairs: ReadonlySet<string>;
  readonly suggestions: ReadonlySet<string>;
  readonly suggestionPairs: ReadonlySet<string>;
  readonly goodActions: ReadonlySet<string>;
  readonly expectations: ReadonlySet<string>;
  readonly visitWords: ReadonlySet<string>;
  readonly offTopic: ReadonlySet<string>;
  readonly fillers: ReadonlySet<string>;
  readonly fillerPairs: ReadonlySet<string>;
  readonly negators: ReadonlySet<string>;
  /** Negation does not reach back across these ("but", "and"). */
  readonly negationBarriers: ReadonlySet<string>;
  /**
   * Verbs whose negation follows them ("fungerade inte", "kom aldrig"),
   * possibly after one of `postNegationSkip` ("gillade den inte").
   */
  readonly postNegated: ReadonlySet<string>;
  readonly postNegationSkip: ReadonlySet<string>;
  readonly intensifiers: ReadonlySet<string>;
  /** "like"/"likes" after a subject is a verb (+1), a bare "like" a filler; none outside English. */
  readonly likeVerbs: ReadonlySet<string>;
  readonly likeFiller: string | undefined;
  readonly likeSubjects: ReadonlySet<string>;
  readonly stopwords: ReadonlySet<string>;
  readonly sentiment: ReadonlyMap<string, number>;
  /** "long" as a complaint about the wait: after an intensifier or one of `longAfter`, or before a waiting word. */
  readonly longWords: ReadonlySet<string>;
  readonly longAfter: ReadonlySet<string>;
  /**
   * States that are a complaint only when said of something ("the parking lot
   * was full", "totally packed"): after one of `stateAfter` or an intensifier,
   * and not before one of `stateNotBefore` ("full of fresh bread"). Elsewhere
   * ("a full refund") they are neither a problem nor an opinion.
   */
  readonly stateProblems: ReadonlySet<string>;
  readonly stateAfter: ReadonlySet<string>;
  readonly stateNotBefore: ReadonlySet<string>;
  readonly staff: ReadonlySet<string>;
  readonly places: ReadonlySet<string>;
}

export const ENGLISH: Lexicon = {
  language: "en",
  topicWords: TOPIC_WORDS,
  topicPairs: new Map(Object.entries(TOPIC_PAIRS)),
  referents: REFERENTS,
  vagueReferents: VAGUE_REFERENTS,
  numberWords: NUMBER_WORDS,
  notNumberAfter: new Map([["one", new Set(list("no the this that every any some each which"))]]),
  articles: new Set(["a", "an"]),
  vagueQuantities: VAGUE_QUANTITIES,
  units: UNITS,
  timeUnits: new Set(list("second seconds minute minutes mins hour hours")),
  moneyUnits: new Set(list("dollars dollar euros euro pounds kronor crowns bucks cents")),
  timeReferences: TIME_REFERENCES,
  causal: CAUSAL,
  causalOnlyBefore: new Map([["so", new Set(list("i we it the they that my our he she you there"))]]),
  problems: PROBLEMS,
  problemPairs: PROBLEM_PAIRS,
  suggestions: SUGGESTIONS,
  suggestionPairs: SUGGESTION_PAIRS,
  goodActions: GOOD_ACTIONS,
  expectations: EXPECTATIONS,
  visitWords: VISIT_WORDS,
  offTopic: OFF_TOPIC,
  fillers: FILLERS,
  fillerPairs: FILLER_PAIRS,
  negators: NEGATORS,
  negationBarriers: new Set(["but", "and"]),
  postNegated: new Set(),
  postNegationSkip: new Set(),
  intensifiers: INTENSIFIERS,
  likeVerbs: new Set(["like", "likes"]),
  likeFiller: "like",
  likeSubjects: LIKE_SUBJECTS,
  stopwords: STOPWORDS,
  sentiment: new Map(Object.entries(SENTIMENT)),
  longWords: new Set(["long"]),
  longAfter: new Set(["took"]),
  stateProblems: new Set(list("full packed closed")),
  stateAfter: new Set(list("was were is are be been got wasn't weren't isn't aren't")),
  stateNotBefore: new Set(list("of with")),
  staff: STAFF,
  places: PLACES,
};
