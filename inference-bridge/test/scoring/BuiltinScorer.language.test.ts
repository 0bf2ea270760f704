// The built-in rubric in the conversation's language: Swedish word lists for
// Swedish stores, English by default, and no pretending for a language it
// has no word lists for.
import { describe, expect, it } from "vitest";
import { analyzeFeedback, BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { SWEDISH_PHRASES } from "../../src/scoring/phrases.sv.ts";

const english = new BuiltinScorer();
const swedish = new BuiltinScorer({ language: "sv-SE" });
const sv = (text: string) => swedish.scoreSync(text);

const COMPLAINT_SV = "kaffet var kallt och personalen var otrevlig, jag väntade i tjugo minuter";
const COMPLAINT_EN = "the coffee was cold and the staff were rude, i waited twenty minutes";
/** The first reward tier and the wall's negative-sentiment alert threshold. */
const FIRST_TIER = 40;
const ALERT_SENTIMENT = -0.5;

describe("BuiltinScorer in Swedish", () => {
  it("scores a Swedish complaint in the band of the same complaint in English, with negative sentiment", () => {
    const swedishResult = sv(COMPLAINT_SV);
    const englishResult = english.scoreSync(COMPLAINT_EN);
    expect(Math.abs(swedishResult.score - englishResult.score)).toBeLessThanOrEqual(10);
    expect(swedishResult.score).toBeGreaterThanOrEqual(FIRST_TIER);
    expect(swedishResult.sentiment).toBeLessThan(ALERT_SENTIMENT);
    expect(swedishResult.topics).toEqual(expect.arrayContaining(["product_quality", "service", "waiting_time"]));
    expect(swedishResult.engine).toBe("builtin");
  });

  it("scores a positive, specific Swedish remark well", () => {
    const praise = sv(
      "baristan kom ihåg min beställning och kanelbullen var jättegod, jag betalade fyrtio kronor och det var värt det",
    );
    expect(praise.score).toBeGreaterThanOrEqual(55);
    expect(praise.sentiment).toBeGreaterThan(0.5);
    expect(praise.specificity).toBeGreaterThan(0.6);
    expect(praise.topics).toEqual(expect.arrayContaining(["service", "product_quality", "price"]));
  });

  it("ranks Swedish feedback as it ranks English: detailed above some substance above vague", () => {
    const vague = ["det var bra", "eh ja typ okej du vet", "allt bra tack"].map((t) => sv(t).score);
    const some = ["kaffet var kallt och personalen var långsam", "personalen var trevlig och det var rent"].map(
      (t) => sv(t).score,
    );
    const detailed = [
      COMPLAINT_SV,
      "toaletten var smutsig och golvet var kladdigt i morse, ni borde städa oftare",
      "kanelbullarna var slut redan klockan nio så jag fick ta en kaka istället",
    ].map((t) => sv(t).score);
    expect(Math.min(...some)).toBeGreaterThan(Math.max(...vague));
    expect(Math.min(...detailed)).toBeGreaterThan(Math.max(...some));
  });

  it("flips sentiment on Swedish negation: inte, ej, aldrig, before a word or after a verb", () => {
    expect(sv("kaffet var gott").sentiment).toBeGreaterThan(0.3);
    expect(sv("kaffet var inte gott").sentiment).toBeLessThan(0);
    expect(sv("personalen var ej trevlig").sentiment).toBeLessThan(0);
    expect(sv("personalen var aldrig trevlig").sentiment).toBeLessThan(0);
    // A Swedish verb's negation follows it.
    expect(sv("jag gillade kaffet").sentiment).toBeGreaterThan(0);
    expect(sv("jag gillade inte kaffet").sentiment).toBeLessThan(0);
    expect(sv("jag gillade det inte").sentiment).toBeLessThan(0);
    const broken = sv("kortläsaren fungerade inte");
    expect(broken.sentiment).toBeLessThan(0);
    expect(broken.actionability).toBeGreaterThan(sv("kortläsaren fungerade").actionability);
    expect(sv("maten kom aldrig").sentiment).toBeLessThan(0);
    // Not across "men" (but).
    expect(sv("kaffet var inte varmt men personalen var trevlig").sentiment).toBeGreaterThan(0);
  });

  it('hears "parkeringen var full" as a complaint and "fulla av" as none', () => {
    expect(sv("parkeringen var full").sentiment).toBeLessThan(0);
    expect(analyzeFeedback("parkeringen var full", "sv").problems.has("full")).toBe(true);
    expect(sv("hyllorna var fulla av färskt bröd").sentiment).toBeGreaterThan(0);
  });

  it("counts Swedish number words and units as specifics", () => {
    for (const text of [
      "vi väntade i tjugo minuter",
      "vi väntade tjugofem minuter",
      "vi väntade i en halvtimme",
      "vi väntade i 20 minuter",
    ]) {
      const f = analyzeFeedback(text, "sv");
      expect(f.quantitiesWithUnit, text).toBe(1);
      expect(f.hasDuration, text).toBe(true);
      expect(f.topics, text).toContain("waiting_time");
      expect(sv(text).hint, text).not.toBe(SWEDISH_PHRASES.hints.howLongWaited);
    }
    expect(sv("kön var långsam och jag var irriterad").hint).toBe(SWEDISH_PHRASES.hints.howLongWaited);
    expect(analyzeFeedback("kaffet kostade fyrtio kronor", "sv").hasMoney).toBe(true);
    expect(sv("det var lite dyrt").hint).toBe(SWEDISH_PHRASES.hints.whatItCost);
  });

  it("finds Swedish topics", () => {
    const cases: [string, string][] = [
      ["baristan var otrevlig mot mig", "service"],
      ["vi stod i kön en evighet", "waiting_time"],
      ["toaletterna var äckliga och golvet var kladdigt", "cleanliness"],
      ["det var väldigt dyrt för en liten kaffe", "price"],
      ["min smörgås var torr och smaklös", "product_quality"],
      ["kortläsaren krånglade två gånger", "payment"],
      ["musiken var så högljudd att vi inte kunde prata", "atmosphere"],
      ["kanelbullarna tog slut redan klockan nio", "availability"],
    ];
    for (const [text, topic] of cases) expect(sv(text).topics, text).toContain(topic);
  });

  it("picks word lists by the primary language subtag", () => {
    for (const tag of ["sv", "sv-SE", "SV-fi", "sv_SE"]) {
      expect(new BuiltinScorer({ language: tag }).scoreSync(COMPLAINT_SV)).toEqual(sv(COMPLAINT_SV));
    }
    expect(new BuiltinScorer({ language: "sv" }).reads).toBe(true);
    expect(swedish.forLanguage("en-GB").scoreSync(COMPLAINT_EN)).toEqual(english.scoreSync(COMPLAINT_EN));
  });
});

describe("BuiltinScorer in English, the default", () => {
  const TEXTS = [
    COMPLAINT_EN,
    "it was fine",
    "the barista remembered my order but the card reader failed twice so i waited ten minutes",
    "the staff were not friendly",
    "so yeah um the weather was nice and i watched the football game with my dog you know",
  ];

  it("scores the same with no language, an empty one and any English tag", () => {
    for (const text of TEXTS) {
      const expected = english.scoreSync(text);
      for (const language of [undefined, "", "en", "en-US", "en-GB"]) {
        expect(new BuiltinScorer({ language }).scoreSync(text), `${language}: ${text}`).toEqual(expected);
      }
    }
    expect(english.reads).toBe(true);
    expect(english.scoreSync(COMPLAINT_EN)).toMatchObject({ score: 67, sentiment: -0.85 });
  });

  it("does not read Swedish words as English ones", () => {
    expect(english.scoreSync(COMPLAINT_SV).sentiment).toBe(0);
  });

  it('scores "constructor" like any unknown word, not as an inherited object property', () => {
    const r = english.scoreSync("i love the constructor");
    expect(Number.isInteger(r.score)).toBe(true);
    expect(r.sentiment).toBeGreaterThan(0);
  });
});

describe("BuiltinScorer in a language it has no word lists for", () => {
  const german = new BuiltinScorer({ language: "de-DE" });
  const COMPLAINT_DE = "der kaffee war kalt und das personal war unhöflich ich habe zwanzig minuten gewartet";

  it("judges only language-neutral features: sentiment neutral, no topics, relevance not judged", () => {
    expect(german.reads).toBe(false);
    const r = german.scoreSync(COMPLAINT_DE);
    expect(r).toMatchObject({ sentiment: 0, topics: [], relevance: 0.5, actionability: 0, engine: "builtin" });
    expect(r.specificity).toBeGreaterThan(0);
    expect(Number.isInteger(r.score) && r.score > 0 && r.score < FIRST_TIER).toBe(true);
    // Digits are language-neutral; more words and numbers earn more.
    expect(german.scoreSync(`${COMPLAINT_DE} 20 minuten`).specificity).toBeGreaterThan(r.specificity);
    expect(german.scoreSync("").score).toBe(0);
  });

  it("does not apply the English word lists to it", () => {
    const r = german.scoreSync(COMPLAINT_EN);
    expect(r.sentiment).toBe(0);
    expect(r.topics).toEqual([]);
  });
});
