import { describe, expect, it } from "vitest";
import { corpusWer, type HeardFinal, heardHypothesis, normalizeWords } from "../src/wer.ts";

const words = (text: string, fromMs: number, stepMs = 300) =>
  text.split(" ").map((t, i) => ({ text: t, startMs: fromMs + i * stepMs }));

describe("word error rate of what was heard", () => {
  it("counts a perfect transcript as 0 and a missing word as 1 of the reference's", () => {
    expect(corpusWer([{ reference: "for them", hypothesis: "for them" }])).toBe(0);
    expect(corpusWer([{ reference: "and mister john", hypothesis: "and john" }])).toBeCloseTo(1 / 3);
  });

  it("keeps the letters of any language: a Swedish sentence is six words, one of them misheard", () => {
    expect(normalizeWords("Jag köpte en smörgås på caféet.")).toEqual([
      "jag",
      "köpte",
      "en",
      "smörgås",
      "på",
      "caféet",
    ]);
    const wer = corpusWer([
      { reference: "Jag köpte en smörgås på caféet", hypothesis: "jag köpte en smörgås på kaféet" },
    ]);
    expect(wer).toBeCloseTo(1 / 6);
    // An é written as e + combining accent (NFD) is the same word as a precomposed one.
    expect(corpusWer([{ reference: "caf\u00e9et", hypothesis: "cafe\u0301et" }])).toBe(0);
  });

  it("keeps digits as words", () => {
    expect(normalizeWords("Room 101, floor 3: 2 coffees")).toEqual(["room", "101", "floor", "3", "2", "coffees"]);
    expect(corpusWer([{ reference: "table 12", hypothesis: "table 13" }])).toBe(0.5);
  });

  it("keeps an apostrophe inside a word and drops quotation marks at its edges", () => {
    expect(normalizeWords("'Yes,' she said, \u2018don\u2019t.\u2019 'Twas the cats' toys")).toEqual([
      "yes",
      "she",
      "said",
      "don't",
      "twas",
      "the",
      "cats",
      "toys",
    ]);
    expect(normalizeWords("<s> the(2) [noise] end </s>")).toEqual(["the", "end"]);
  });

  it("joins finals in segment order, whatever order they arrived in", () => {
    const finals: HeardFinal[] = [
      { segmentId: 2, text: "power to do", startMs: 2000, words: words("power to do", 2000) },
      { segmentId: 1, text: "how much", startMs: 0, words: words("how much", 0) },
    ];
    expect(heardHypothesis(finals)).toBe("how much power to do");
  });

  it("leaves out the words of a looped play cut short, also inside a final that spans plays", () => {
    // Two plays of 3 s each were heard whole; a third was stopped 1 s in. One final spans all three.
    const spanning = words("one two three four five six seven eight nine ten", 0, 700);
    const finals: HeardFinal[] = [{ segmentId: 1, text: "", startMs: 0, words: spanning }];
    expect(heardHypothesis(finals, 6_000)).toBe("one two three four five six seven eight nine");
    expect(heardHypothesis(finals, 3_000)).toBe("one two three four five");
  });

  it("keeps a final without word timings whole when it starts before the cut, and drops it after", () => {
    const finals: HeardFinal[] = [
      { segmentId: 1, text: "kept whole", startMs: 5_900, words: [] },
      { segmentId: 2, text: "dropped", startMs: 6_100, words: [] },
    ];
    expect(heardHypothesis(finals, 6_000)).toBe("kept whole");
  });
});
