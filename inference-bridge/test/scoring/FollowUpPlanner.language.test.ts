// The built-in planner in the conversation's language: it reads the transcript
// with that language's word lists and asks in that language, so a Swedish
// customer gets the Swedish question the same feedback in English gets in English.
import { describe, expect, it } from "vitest";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { CircuitBreaker } from "../../src/scoring/CircuitBreaker.ts";
import { BuiltinFollowUpPlanner, candidateFollowUps, type FollowUpInput } from "../../src/scoring/FollowUpPlanner.ts";
import { OllamaClient } from "../../src/scoring/OllamaClient.ts";
import { OllamaFollowUpPlanner } from "../../src/scoring/OllamaFollowUpPlanner.ts";
import { SWEDISH_PHRASES } from "../../src/scoring/phrases.sv.ts";
import { ENGLISH_PHRASES, type Phrases, type QuestionKey } from "../../src/scoring/phrases.ts";

const planner = new BuiltinFollowUpPlanner();
const input = (transcript: string, language: string | undefined, asked: string[] = []): FollowUpInput => ({
  score: new BuiltinScorer({ language }).scoreSync(transcript),
  transcript,
  asked,
  language,
});
/** The key of `question` in a table's questions; undefined when it is not one of them. */
const keyOf = (phrases: Phrases, question: string | undefined): QuestionKey | undefined =>
  (Object.keys(phrases.questions) as QuestionKey[]).find((k) => phrases.questions[k] === question);
/** Every question the planner would ask, in order, as keys of the table. */
const plannedKeys = (transcript: string, language: string, phrases: Phrases) =>
  candidateFollowUps(input(transcript, language)).map((q) => `${q.aimedAt}:${keyOf(phrases, q.text)}`);

const COMPLAINT_SV = "kaffet var kallt och kassören var otrevlig";
const COMPLAINT_EN = "the coffee was cold and the cashier was rude";

describe("BuiltinFollowUpPlanner in the conversation's language", () => {
  it("asks a Swedish complaint that names no time the Swedish question for that missing detail", () => {
    const sv = candidateFollowUps(input(COMPLAINT_SV, "sv"));
    const en = candidateFollowUps(input(COMPLAINT_EN, "en"));
    // Cold coffee, rude cashier: what was wrong, who served; no time named, so when it was.
    for (const [questions, phrases] of [
      [sv, SWEDISH_PHRASES],
      [en, ENGLISH_PHRASES],
    ] as const) {
      expect(questions[0]).toEqual({ text: phrases.questions.whatWasWrong, aimedAt: "specificity" });
      expect(questions.map((q) => q.text)).toEqual(
        expect.arrayContaining([phrases.questions.whoServed, phrases.questions.orderAndTime]),
      );
    }
    expect(planner.planSync(input(COMPLAINT_SV, "sv"))?.text).toBe(
      "Vad var det som inte var bra: smaken, temperaturen eller något annat?",
    );
    expect(planner.planSync(input(COMPLAINT_EN, "en"))?.text).toBe(
      "What was wrong with it: the taste, the temperature, or something else?",
    );
  });

  it("chooses from Swedish features: a named time or duration is not asked for again", () => {
    const withTime = candidateFollowUps(input(`${COMPLAINT_SV} i morse`, "sv")).map((q) => q.text);
    expect(withTime).not.toContain(SWEDISH_PHRASES.questions.orderAndTime);
    expect(withTime).toContain(SWEDISH_PHRASES.questions.whoServed);

    expect(planner.planSync(input("kön var långsam och jag var irriterad", "sv"))?.text).toBe(
      SWEDISH_PHRASES.questions.howLongWaited,
    );
    const timed = candidateFollowUps(input("kön var långsam och jag väntade i tjugo minuter", "sv")).map((q) => q.text);
    expect(timed[0]).toBe(SWEDISH_PHRASES.questions.whileWaiting);
    expect(timed).not.toContain(SWEDISH_PHRASES.questions.howLongWaited);
  });

  it("makes the same choices in Swedish as in English for feedback with the same meaning", () => {
    const pairs: [string, string][] = [
      [COMPLAINT_EN, COMPLAINT_SV],
      [`${COMPLAINT_EN} this morning`, `${COMPLAINT_SV} i morse`],
      ["the queue was slow and i was annoyed", "kön var långsam och jag var irriterad"],
      ["the queue was slow and i waited twenty minutes", "kön var långsam och jag väntade i tjugo minuter"],
      ["the service was great", "servicen var jättebra"],
      [
        "the weather was nice and i watched football with my dog",
        "vädret var fint och jag tittade på fotboll med min hund",
      ],
    ];
    for (const [en, sv] of pairs) {
      const english = plannedKeys(en, "en", ENGLISH_PHRASES);
      expect(
        english.some((k) => k.endsWith(":undefined")),
        en,
      ).toBe(false);
      expect(plannedKeys(sv, "sv-SE", SWEDISH_PHRASES), sv).toEqual(english);
    }
  });

  it("asks as many different Swedish questions as English ones before running out", () => {
    const askAll = (transcript: string, language: string) => {
      const asked: string[] = [];
      for (
        let q = planner.planSync(input(transcript, language, asked));
        q;
        q = planner.planSync(input(transcript, language, asked))
      ) {
        asked.push(q.text);
        expect(asked.length).toBeLessThan(40);
      }
      return asked;
    };
    const sv = askAll(COMPLAINT_SV, "sv");
    expect(sv.every((q) => keyOf(SWEDISH_PHRASES, q) !== undefined)).toBe(true);
    expect(sv.length).toBe(askAll(COMPLAINT_EN, "en").length);
  });

  it("reads the language tag as the rubric does, and asks in English without word lists", () => {
    for (const tag of ["sv", "sv-SE", "SV"]) {
      expect(planner.planSync(input(COMPLAINT_SV, tag))?.text, tag).toBe(SWEDISH_PHRASES.questions.whatWasWrong);
    }
    for (const tag of ["fi", "fi-FI"]) {
      const q = planner.planSync(input("kahvi oli kylmää ja kassa oli töykeä", tag));
      expect(keyOf(ENGLISH_PHRASES, q?.text), tag).toBeDefined();
    }
    expect(planner.planSync(input(COMPLAINT_EN, undefined))?.text).toBe(ENGLISH_PHRASES.questions.whatWasWrong);
  });

  it("falls back from the Ollama planner to the Swedish question", async () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1 });
    breaker.failed("unavailable"); // cooling off: the built-in planner answers without a model call
    const ollama = new OllamaFollowUpPlanner({ client: new OllamaClient({ host: "127.0.0.1:1" }), breaker });
    const q = await ollama.plan(input(COMPLAINT_SV, "sv-SE"), new AbortController().signal);
    expect(q).toEqual(planner.planSync(input(COMPLAINT_SV, "sv-SE")));
    expect(q?.text).toBe(SWEDISH_PHRASES.questions.whatWasWrong);
  });
});
