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
// four…", "noll sju noll…"), count the same, seven in a row, and so do
// numbers read in pairs ("oh seven oh, twelve, thirty-four, fifty six",
// "noll sju noll, tolv, trettiofyra, femtiosex": a ten and its unit are two
// digits); so do addresses said aloud ("anna dot svensson at example dot
// com"). A written run shaped like an amount and followed or led by a
// currency ("1 500 000 kr", "SEK 2500000") is an amount, not a number to call;
// one that is not so shaped is a number however near a currency it is said
// ("swish 070 123 45 67 200 kr", "kr 50 … 0701234567"), and so is any run said
// in words.

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
/** Ten to nineteen: two digits said as one word. */
const TEEN_WORD =
  "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|tio|elva|tolv|tretton|fjorton|femton|sexton|sjutton|arton|nitton";
/** A ten (the colloquial Swedish "fyrti", "sjutti" too), followed in Swedish by its unit in the same word: "trettiofyra". */
const TENS_WORD =
  "(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|tjugo|tjugi|trettio|tretti|fyrtio|fyrti|femtio|femti|sextio|sexti|sjuttio|sjutti|åttio|åtti|nittio|nitti)(?:ett|en|två|tre|fyra|fem|sex|sju|åtta|nio)?";
/** "double seven", "triple three": the next digit said two or three times. */
const REPEAT_WORD = "double|triple";
const PAIR_WORDS = new RegExp(`^(?:${TEEN_WORD}|${TENS_WORD})$`, "iu");
const TENS_WORDS = new RegExp(`^(?:${TENS_WORD})$`, "iu");
const REPEAT_WORDS = new RegExp(`^(?:${REPEAT_WORD})$`, "iu");
const SPOKEN_NUMBER = `${DIGIT_WORD}|${TEEN_WORD}|${TENS_WORD}|${REPEAT_WORD}|\\d+`;
/** A run of digits said as words or written, apart by spaces, commas or dashes. */
const SPOKEN_RUN = new RegExp(
  String.raw`(?<!${WORD_CHAR})(?:${SPOKEN_NUMBER})(?:[\s,\-–]+(?:${SPOKEN_NUMBER}))+(?!${WORD_CHAR})`,
  "giu",
);
/** A currency just before or after a run of digits makes it an amount. */
const CURRENCY = String.raw`(?:kr|kronor|sek|:-|dollars?|usd|\$|eur|euros?|€|pounds?|gbp|£)`;
const CURRENCY_BEFORE = new RegExp(String.raw`(?:^|[^\p{L}])${CURRENCY}\s?$`, "iu");
const CURRENCY_AFTER = new RegExp(String.raw`^\s?${CURRENCY}(?![\p{L}])`, "iu");

/**
 * Written as an amount: one block of at most seven digits not led by a zero
 * ("2500000"), or thousands apart ("1 500 000", "1.299.000"). A phone number's
 * groups ("070 123 45 67", "555 123 4567") or a longer block are not: a
 * currency said just after a number ("0701234567 50 kr") must not keep it.
 */
const AMOUNT = /^(?:[1-9]\d{0,6}|[1-9]\d{0,2}(?:[\s.]\d{3})+)$/u;

function isAmount(run: string, text: string, start: number): boolean {
  if (!AMOUNT.test(run)) return false;
  const end = start + run.length;
  return (
    CURRENCY_BEFORE.test(text.slice(Math.max(0, start - 8), start)) || CURRENCY_AFTER.test(text.slice(end, end + 8))
  );
}

function maskDigitRun(run: string, start: number, text: string): string {
  const digits = run.replace(/\D/gu, "").length;
  if (digits < MIN_PHONE_DIGITS || NOT_A_PHONE.some((p) => p.test(run)) || isAmount(run, text, start)) {
    return run;
  }
  // An opening parenthesis with none closing it belongs to the sentence ("(070 123 45 67)"), not the number.
  return run.startsWith("(") && !run.includes(")") ? `(${MASK}` : MASK;
}

/** How many digits a run of number words and written digits says: "seventy five" and "sjuttiofem" are two. */
function spokenDigits(run: string): { digits: number; anyWord: boolean } {
  // Keep the separators: a ten and the unit after it are one pair only when nothing but a space is between them.
  const parts = run.split(/(\s*,\s*|\s*[-–]\s*|\s+)/u);
  let digits = 0;
  let anyWord = false;
  let afterTens = false;
  let repeat = 1;
  for (let i = 0; i < parts.length; i += 2) {
    const token = parts[i] ?? "";
    const joinedToTens = afterTens && !(parts[i - 1] ?? "").includes(",");
    afterTens = false;
    if (REPEAT_WORDS.test(token)) {
      anyWord = true;
      repeat = token.toLowerCase() === "double" ? 2 : 3;
      continue;
    }
    if (DIGIT_WORDS.test(token)) {
      anyWord = true;
      // "seventy five" is 75; "seventy oh" is not a pair.
      const unitOfTens = joinedToTens && !/^(?:zero|oh|noll)$/iu.test(token);
      if (!unitOfTens) digits += repeat;
    } else if (PAIR_WORDS.test(token)) {
      anyWord = true;
      digits += 2;
      afterTens = TENS_WORDS.test(token) && !/(?:ett|en|två|tre|fyra|fem|sex|sju|åtta|nio)$/iu.test(token);
    } else {
      digits += token.replace(/\D/gu, "").length;
    }
    repeat = 1;
  }
  return { digits, anyWord };
}

function maskSpokenRun(run: string): string {
  const { digits, anyWord } = spokenDigits(run);
  // Written digits only: the digit runs' rule decides (it knows dates, hours and amounts).
  if (!anyWord) return run;
  // No currency keeps a run said in words: nobody reads a price digit by digit, but "…six seven, fifty dollars back".
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
