// What a public screen never shows of a customer's words, whatever the owner
// lists: e-mail addresses and phone numbers. Customers say them ("call me back
// on 070-123 45 67") to the store, not to everyone standing in it. Applied on
// the node to every text that goes to a public screen (WallModeration), before
// the owner's phrases; the business's own dashboards still see the words.
//
// A phone number is any run of 7 or more digits, in groups apart by a space,
// a dash, a dot or parentheses, with a leading + or "(": "0701234567",
// "070-123 45 67", "+46 70 123 45 67", "+46 (0)70-123 45 67", "08-123 456 78",
// "(555) 123-4567", "555.123.4567". Shorter numbers stay ("10 minutes",
// "2 coffees", "SEK 45", "order 12345", "1 299 kr"), and so do dates
// ("2026-11-27", "27.11.2026") and opening hours ("10.00–18.00"). Digits said
// as words, as a speech worker writes them ("zero seven zero one two three
// four…", "noll sju noll…"), count the same, seven in a row; so do addresses
// said aloud ("anna dot svensson at example dot com").

const MASK = "███";

/** Horizontal or vertical white space, one character: transcripts' words are one space apart. */
const SPACE = String.raw`\s`;
/** Between two groups of a phone number's digits. */
const SEPARATOR = String.raw`(?:${SPACE}?[-–‐]${SPACE}?|\.|${SPACE}?\(${SPACE}?|${SPACE}?\)${SPACE}?|${SPACE})`;
/** A run of digit groups; the digits are counted afterwards. Starts where no digit (or +) is just before it. */
const DIGIT_RUN = new RegExp(String.raw`(?<![\d+])(?:\+${SPACE}?|\(${SPACE}?)?\d+(?:${SEPARATOR}\d+)*`, "gu");
const MIN_PHONE_DIGITS = 7;

/** Runs of digits that are no phone number: dates and opening hours. */
const NOT_A_PHONE = [
  /^\d{4}-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])$/u, // 2026-11-27
  /^(0?[1-9]|[12]\d|3[01])\.(0?[1-9]|1[0-2])\.\d{4}$/u, // 27.11.2026
  /^([01]?\d|2[0-3])\.[0-5]\d\s?[-–‐]\s?([01]?\d|2[0-3])\.[0-5]\d$/u, // 10.00–18.00
];

const WORD_CHAR = String.raw`[\p{L}\p{M}\p{N}_]`;
/** An address as written: anna.svensson@example.com (a space either side of the @ too, as speech workers write it). */
const EMAIL = new RegExp(
  String.raw`(?<!${WORD_CHAR})[\p{L}\p{N}._%+-]+${SPACE}?@${SPACE}?[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.\p{L}{2,}(?![\p{L}\p{N}])`,
  "gu",
);

/** The common endings of an address said aloud ("… dot com", "… punkt se"). */
const SPOKEN_TLD = "com|se|net|org|nu|io|eu|info|co|uk|de|fi|no|dk|edu|gov";
const DOT = "(?:dot|punkt)";
const LABEL = String.raw`[\p{L}\p{N}_-]+`;
/** An address said aloud: "anna dot svensson at example dot com", "anna snabel-a example punkt se". */
const SPOKEN_EMAIL = new RegExp(
  String.raw`(?<!${WORD_CHAR})${LABEL}(?:\s+${DOT}\s+${LABEL})*\s+(?:at|snabel-a)\s+${LABEL}(?:\s+${DOT}\s+${LABEL})*\s+${DOT}\s+(?:${SPOKEN_TLD})(?!${WORD_CHAR})`,
  "giu",
);

/** A digit said as a word, in English or Swedish. */
const DIGIT_WORD = "zero|oh|one|two|three|four|five|six|seven|eight|nine|noll|ett|en|två|tre|fyra|fem|sex|sju|åtta|nio";
const DIGIT_WORDS = new RegExp(`^(?:${DIGIT_WORD})$`, "iu");
/** A run of digits said as words or written, apart by spaces, commas or dashes. */
const SPOKEN_RUN = new RegExp(
  String.raw`(?<!${WORD_CHAR})(?:${DIGIT_WORD}|\d+)(?:[\s,\-–]+(?:${DIGIT_WORD}|\d+))+(?!${WORD_CHAR})`,
  "giu",
);

function maskDigitRun(run: string): string {
  const digits = run.replace(/\D/gu, "").length;
  if (digits < MIN_PHONE_DIGITS || NOT_A_PHONE.some((p) => p.test(run))) return run;
  // An opening parenthesis with none closing it belongs to the sentence ("(070 123 45 67)"), not the number.
  return run.startsWith("(") && !run.includes(")") ? `(${MASK}` : MASK;
}

function maskSpokenRun(run: string): string {
  const tokens = run.split(/[\s,\-–]+/u).filter(Boolean);
  // Written digits only: the digit runs' rule decides (it knows dates and hours).
  if (!tokens.some((t) => DIGIT_WORDS.test(t))) return run;
  const digits = tokens.reduce((n, t) => n + (DIGIT_WORDS.test(t) ? 1 : t.length), 0);
  return digits >= MIN_PHONE_DIGITS ? MASK : run;
}

/** The text with its e-mail addresses and phone numbers (written or said as words) masked. */
export function maskContacts(text: string): string {
  return text
    .replace(EMAIL, MASK)
    .replace(SPOKEN_EMAIL, MASK)
    .replace(SPOKEN_RUN, maskSpokenRun)
    .replace(DIGIT_RUN, maskDigitRun);
}
