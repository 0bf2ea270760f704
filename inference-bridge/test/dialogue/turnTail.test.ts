import { describe, expect, it } from "vitest";
import { turnTail } from "../../src/dialogue/turnTail.ts";

describe("turnTail", () => {
  describe("English", () => {
    it.each([
      "the coffee was cold and nobody at the counter noticed it",
      "I waited twenty minutes",
      "he was not an ill disposed young man",
      "it cost ninety kronor.",
      "",
    ])("a complete thought: %j", (text) => {
      expect(turnTail(text, "en-US")).toBe("complete");
    });

    it.each([
      "the coffee was cold and",
      "the coffee was cold, and",
      "I ordered a cappuccino because",
      "the coffee was um",
      "and then uh",
      "it was fine but",
      "So",
    ])("a hesitation: %j", (text) => {
      expect(turnTail(text, "en-US")).toBe("hesitation");
    });

    it.each([
      "the coffee was",
      "I ordered a",
      "the barista was really rude to",
      "we waited for",
      "I'm",
      "and then I",
      "it’s", // typographic apostrophe
      "THE",
    ])("open, wants more words: %j", (text) => {
      expect(turnTail(text, "en-US")).toBe("open");
    });

    it("judges only the last word, ignoring punctuation after it", () => {
      expect(turnTail("and the coffee was cold...", "en")).toBe("complete");
      expect(turnTail("the coffee was cold and —", "en")).toBe("hesitation");
      expect(turnTail("   the   ", "en")).toBe("open");
    });

    it("picks the rules by the primary language subtag", () => {
      for (const language of ["en", "en-GB", "EN-us", "en_US"])
        expect(turnTail("we waited for", language)).toBe("open");
    });
  });

  describe("Swedish", () => {
    it.each([
      "kaffet var kallt och ingen vid disken märkte det",
      "jag väntade i tjugo minuter",
      // Words that also open a phrase, but often end a sentence, end it here.
      "jag gillade det",
      "jag köpte den",
      "det tror jag", // subject pronouns come last after a fronted object
      "ja, det gjorde de",
      "personalen stod bara där",
      "maten hade inte kommit än",
      "det kostade nittio kronor.",
      "",
    ])("a complete thought: %j", (text) => {
      expect(turnTail(text, "sv-SE")).toBe("complete");
    });

    it.each([
      "kaffet var kallt och",
      "kaffet var kallt, och",
      "jag beställde en cappuccino eftersom",
      "det var gott men",
      "kaffet var eh",
      "och sen öh",
      "Öhm",
      "hon sa att",
      "baristan som",
      "det var typ",
    ])("a hesitation: %j", (text) => {
      expect(turnTail(text, "sv-SE")).toBe("hesitation");
    });

    it.each([
      "jag väntade på",
      "kaffet var",
      "jag beställde en",
      "baristan var otrevlig mot",
      "vi fick vänta i",
      "det var min",
      "jag ska",
      "det var väldigt",
      "jag väntade pa\u030A", // "å" decomposed
      "PÅ",
    ])("open, wants more words: %j", (text) => {
      expect(turnTail(text, "sv-SE")).toBe("open");
    });

    it("applies to any Swedish tag, and only to Swedish", () => {
      expect(turnTail("kaffet var kallt och", "sv")).toBe("hesitation");
      expect(turnTail("kaffet var kallt och", "sv-FI")).toBe("hesitation");
      expect(turnTail("the coffee was cold and", "sv-SE")).toBe("complete");
    });
  });

  describe("a language without rules", () => {
    it.each([
      ["kahvi oli kylmää ja", "fi-FI"],
      ["der Kaffee war kalt", "de-DE"],
      ["the coffee was cold and nobody noticed it", "fi"],
      ["kaffet var kallt", ""],
    ])("never shortens the wait: %j (%s) is open", (text, language) => {
      expect(turnTail(text, language)).toBe("open");
    });

    it("still calls no words complete: nothing dangles", () => {
      expect(turnTail("", "fi-FI")).toBe("complete");
    });
  });
});
