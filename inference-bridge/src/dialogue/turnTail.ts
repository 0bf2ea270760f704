// How the customer's words so far end: a complete thought, or words that
// usually go on. Speakers pause mid-thought after conjunctions and fillers
// ("the coffee was cold and … um …") and after words that cannot end a clause
// ("the coffee was …", "I waited for …"); a turn that ends on those gets a
// longer silence before the AI speaks. Lexical rules on the recogniser's
// words, so a misheard last word ("uh" → "bad") is judged as heard.

export type TurnTail =
  /** Nothing dangling: "… and nobody noticed it". */
  | "complete"
  /** A word that needs more after it: articles, prepositions, auxiliaries, subject pronouns. */
  | "open"
  /** A conjunction or a filler: the speaker is visibly mid-thought. */
  | "hesitation";

const HESITATION = new Set([
  // fillers (and the words pocketsphinx hears for them)
  "um",
  "umm",
  "uhm",
  "uh",
  "er",
  "erm",
  "ah",
  "hmm",
  "hm",
  "mm",
  "mhm",
  // conjunctions and clause openers
  "and",
  "but",
  "or",
  "nor",
  "so",
  "because",
  "cause",
  "cos",
  "although",
  "though",
  "while",
  "whereas",
  "unless",
  "since",
  "until",
  "till",
  "if",
  "when",
  "whenever",
  "where",
  "which",
  "who",
  "whom",
  "whose",
  "than",
  "like",
  "plus",
]);

const OPEN = new Set([
  // articles and determiners that need a noun
  "the",
  "a",
  "an",
  "my",
  "your",
  "our",
  "their",
  "its",
  "every",
  "each",
  // prepositions
  "to",
  "of",
  "for",
  "with",
  "at",
  "from",
  "about",
  "by",
  "into",
  "onto",
  "through",
  "during",
  "without",
  "between",
  "toward",
  "towards",
  "as",
  "per",
  "via",
  // auxiliaries and copulas
  "am",
  "is",
  "are",
  "was",
  "were",
  "be",
  "been",
  "being",
  "have",
  "has",
  "had",
  "do",
  "does",
  "did",
  "will",
  "would",
  "could",
  "should",
  "can",
  "may",
  "might",
  "must",
  "shall",
  "got",
  "get",
  "gonna",
  "wanna",
  "very",
  // contractions that open a clause
  "i'm",
  "it's",
  "that's",
  "there's",
  "they're",
  "we're",
  "you're",
  "he's",
  "she's",
  "i've",
  "we've",
  "they've",
  "i'd",
  "i'll",
  // subject pronouns
  "i",
  "we",
  "they",
  "he",
  "she",
]);

/** The kind of the last word of `text` (empty text is complete: nothing dangles). */
export function turnTail(text: string): TurnTail {
  const last = lastWord(text);
  if (HESITATION.has(last)) return "hesitation";
  if (OPEN.has(last)) return "open";
  return "complete";
}

const LAST_WORD = /[\p{L}\p{N}'\u2019]+(?=[^\p{L}\p{N}'\u2019]*$)/u;

/** The last word, lower case, without punctuation around it. */
function lastWord(text: string): string {
  return (LAST_WORD.exec(text.slice(-100))?.[0] ?? "").toLowerCase().replaceAll("\u2019", "'");
}
