// How the customer's words so far end: a complete thought, or words that
// usually go on. Speakers pause mid-thought after conjunctions and fillers
// ("the coffee was cold and … um …") and after words that cannot end a clause
// ("the coffee was …", "I waited for …"); a turn that ends on those gets a
// longer silence before the AI speaks. Lexical rules on the recogniser's
// words, so a misheard last word ("uh" → "bad") is judged as heard; one set
// of rules per language (the store's), English and Swedish.

export type TurnTail =
  /** Nothing dangling: "… and nobody noticed it". */
  | "complete"
  /** A word that needs more after it: articles, prepositions, auxiliaries, subject pronouns. */
  | "open"
  /** A conjunction or a filler: the speaker is visibly mid-thought. */
  | "hesitation";

// English.
const EN_HESITATION = new Set([
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

const EN_OPEN = new Set([
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

// Swedish. Left out, as English leaves out "it", "that", "there" and the
// particles in/on/up: words that often end a sentence. Object pronouns
// ("jag gillade det", "jag köpte den"); subject pronouns, which Swedish word
// order puts last ("det tror jag", "det gjorde de"); infinitives and
// supines, for the same reason ("det vill jag ha"); adverbs such as där, då,
// sen, än ("maten hade inte kommit än"), så, därför, innan, efter. Kept in,
// as English keeps "to", "with", "though": words that can end a sentence
// but mostly go on ("inget att klaga på"); there a turn waits the longer
// silence, a slower answer rather than the customer cut off.
const SV_HESITATION = new Set([
  // fillers
  "eh",
  "ehm",
  "äh",
  "ähm",
  "öh",
  "öhm",
  "hm",
  "hmm",
  "mm",
  "typ",
  // conjunctions and clause openers
  "och",
  "men",
  "eller",
  "samt",
  "utan",
  "plus",
  "att",
  "som",
  "om",
  "när",
  "eftersom",
  "fast",
  "fastän",
  "medan",
  "tills",
  "ifall",
  "vilket",
  "vars",
]);

const SV_OPEN = new Set([
  // articles and determiners that need a noun
  "en",
  "ett",
  "min",
  "mitt",
  "mina",
  "din",
  "ditt",
  "dina",
  "sin",
  "sitt",
  "sina",
  "vår",
  "vårt",
  "våra",
  "ert",
  "era",
  "varje",
  "varenda",
  // prepositions
  "på",
  "i",
  "till",
  "med",
  "för",
  "av",
  "från",
  "hos",
  "mot",
  "vid",
  "genom",
  "mellan",
  "bland",
  "trots",
  "enligt",
  "inför",
  // finite auxiliaries and copulas (second in a clause, so rarely last)
  "är",
  "var",
  "blir",
  "blev",
  "har",
  "hade",
  "ska",
  "skulle",
  "kan",
  "kunde",
  "vill",
  "ville",
  "måste",
  "bör",
  "borde",
  "får",
  "fick",
  "väldigt",
]);

interface TailRules {
  hesitation: ReadonlySet<string>;
  open: ReadonlySet<string>;
}

/** By primary language subtag. */
const RULES = new Map<string, TailRules>([
  ["en", { hesitation: EN_HESITATION, open: EN_OPEN }],
  ["sv", { hesitation: SV_HESITATION, open: SV_OPEN }],
]);

/**
 * The kind of the last word of `text`, by the rules of `language` (BCP 47,
 * e.g. "sv-SE": its primary subtag picks them). Empty text is complete:
 * nothing dangles.
 */
export function turnTail(text: string, language: string): TurnTail {
  const last = lastWord(text);
  if (!last) return "complete";
  const rules = RULES.get(primaryLanguage(language));
  // No rules for the language: no word tells a finished thought from a pause
  // mid-sentence. "complete" would let the AI cut in after every short pause;
  // "open" keeps the wait calibrated for a pause mid-thought (TurnDetector's
  // openSilenceMs), without claiming a heard filler's longer one.
  if (!rules) return "open";
  if (rules.hesitation.has(last)) return "hesitation";
  if (rules.open.has(last)) return "open";
  return "complete";
}

function primaryLanguage(language: string): string {
  return (language.split(/[-_]/)[0] ?? "").toLowerCase();
}

const LAST_WORD = /[\p{L}\p{N}'\u2019]+(?=[^\p{L}\p{N}'\u2019]*$)/u;

/** The last word, lower case, without punctuation around it (NFC: "å" may come as "a" + ring). */
function lastWord(text: string): string {
  return (LAST_WORD.exec(text.slice(-100).normalize("NFC"))?.[0] ?? "").toLowerCase().replaceAll("\u2019", "'");
}
