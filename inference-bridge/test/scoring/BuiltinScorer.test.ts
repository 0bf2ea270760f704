import { describe, expect, it } from "vitest";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { weakestParts } from "../../src/scoring/types.ts";

const scorer = new BuiltinScorer();
const score = (text: string) => scorer.scoreSync(text);

// Feedback of clearly different quality; the rubric must rank the groups, whatever the exact numbers.
const VAGUE = [
  "it was fine",
  "good",
  "um yeah it was okay i guess",
  "nothing really you know whatever",
  "all good thanks",
];
const SOME_SUBSTANCE = [
  "the coffee was cold and the staff were slow",
  "the staff were friendly and the place was clean",
  "the line was too long",
  "the service was great",
];
const DETAILED = [
  "the barista remembered my order but the card reader failed twice so i waited ten minutes",
  "i ordered a latte at around nine this morning and it was lukewarm and the toilets were dirty you should clean them more often",
  "i waited twenty minutes for a sandwich because the kitchen forgot my order",
  "the cashier was really helpful she explained the discount but the queue took forever because only one till was open they should open a second till at lunchtime",
];

describe("BuiltinScorer ranking", () => {
  it("ranks detailed feedback above some substance above vague", () => {
    const vague = VAGUE.map((t) => score(t).score);
    const some = SOME_SUBSTANCE.map((t) => score(t).score);
    const detailed = DETAILED.map((t) => score(t).score);
    expect(Math.min(...some)).toBeGreaterThan(Math.max(...vague));
    expect(Math.min(...detailed)).toBeGreaterThan(Math.max(...some));
  });

  it('scores "it was fine" far below the barista who remembered the order', () => {
    const fine = score("it was fine");
    const barista = score(DETAILED[0]!);
    expect(barista.score - fine.score).toBeGreaterThanOrEqual(50);
    expect(barista.specificity).toBeGreaterThan(fine.specificity + 0.5);
    expect(barista.actionability).toBeGreaterThan(fine.actionability + 0.5);
  });

  it("rates off-topic chatter low on relevance and below detailed feedback", () => {
    const offTopic = score("so yeah um the weather was nice and i watched the football game with my dog you know");
    expect(offTopic.relevance).toBeLessThan(0.4);
    expect(offTopic.score).toBeLessThan(Math.min(...DETAILED.map((t) => score(t).score)));
    expect(offTopic.relevance).toBeLessThan(score("the coffee was cold").relevance);
  });

  it("keeps every part in range and is deterministic", () => {
    for (const text of [...VAGUE, ...SOME_SUBSTANCE, ...DETAILED, ""]) {
      const r = score(text);
      expect(r).toEqual(score(text));
      expect(Number.isInteger(r.score) && r.score >= 0 && r.score <= 100).toBe(true);
      for (const p of [r.specificity, r.actionability, r.relevance]) expect(p >= 0 && p <= 1).toBe(true);
      expect(r.sentiment >= -1 && r.sentiment <= 1).toBe(true);
      expect(r.engine).toBe("builtin");
      expect(r.hint.length).toBeGreaterThan(0);
    }
    expect(score("").score).toBe(0);
  });

  it("reads sentiment with negation", () => {
    expect(score("the staff were friendly and the coffee was great").sentiment).toBeGreaterThan(0.3);
    expect(score("the staff were rude and the coffee was awful").sentiment).toBeLessThan(-0.3);
    expect(score("the staff were not friendly").sentiment).toBeLessThan(0);
    expect(score("the card reader didn't work").actionability).toBeGreaterThan(score("the card reader").actionability);
  });

  it('hears "the parking lot was full" as a complaint, and "full of" or "a full refund" as none', () => {
    const praise = "the lighting was nice";
    const mixed = score(`${praise}. but the parking lot was full`);
    expect(mixed.sentiment).toBeLessThan(score(praise).sentiment / 2);
    expect(mixed.actionability).toBeGreaterThan(score(praise).actionability);
    expect(score("the parking lot was full").sentiment).toBeLessThan(0);
    expect(score("the cafe was totally packed").sentiment).toBeLessThan(0);
    expect(score("the toilet was closed").actionability).toBeGreaterThan(score("the toilet").actionability);
    expect(score("the shelves were full of fresh bread").sentiment).toBeGreaterThan(0);
    expect(score("they gave me a full refund").sentiment).toBe(0);
    expect(score("the parking lot wasn't full").sentiment).toBeGreaterThanOrEqual(0);
  });
});

describe("BuiltinScorer topics", () => {
  it.each([
    ["the barista was rude to me", "service"],
    ["we waited in the queue for ages", "waiting_time"],
    ["the toilets were filthy and the floor was sticky", "cleanliness"],
    ["it was really expensive for a small coffee", "price"],
    ["my sandwich was stale and soggy", "product_quality"],
    ["the card reader failed twice", "payment"],
    ["the music was so loud we could not talk", "atmosphere"],
    ["they ran out of croissants by nine", "availability"],
  ])("finds %j → %s", (text, topic) => {
    expect(score(text).topics).toContain(topic);
  });

  it("lists topics in order of first mention and finds none in filler", () => {
    expect(score("the price was high and the staff were slow").topics.slice(0, 2)).toEqual(["price", "service"]);
    expect(score("um yeah whatever").topics).toEqual([]);
  });
});

describe("BuiltinScorer hint", () => {
  it("targets the weakest part", () => {
    const cases: [string, string][] = [
      ["the weather was nice and i watched football with my dog", "relevance"],
      ["the service was great", "actionability"],
      ["the coffee was cold and the staff were slow", "specificity"],
    ];
    for (const [text, part] of cases) {
      const r = score(text);
      expect(weakestParts(r)[0]).toBe(part);
      expect(r.hint).toBe(
        {
          relevance: "tell us about this visit",
          actionability: "say what they should keep doing",
          specificity: "say how long you waited",
        }[part],
      );
    }
  });

  it("asks what made the wait long when the wait is the weak spot", () => {
    expect(score(DETAILED[0]!).hint).toBe("say what made the wait long");
  });

  it("asks for the missing detail of the topic raised", () => {
    expect(score("the queue was slow and i was annoyed").hint).toBe("say how long you waited");
    expect(score("it was a bit expensive for what you get").hint).toBe("say what it cost");
    expect(score("it was fine").hint).toBe("tell us what happened on your visit");
  });
});
