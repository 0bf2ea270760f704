import { describe, expect, it } from "vitest";
import { turnTail } from "../../src/dialogue/turnTail.ts";

describe("turnTail", () => {
  it.each([
    "the coffee was cold and nobody at the counter noticed it",
    "I waited twenty minutes",
    "he was not an ill disposed young man",
    "it cost ninety kronor.",
    "",
  ])("a complete thought: %j", (text) => {
    expect(turnTail(text)).toBe("complete");
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
    expect(turnTail(text)).toBe("hesitation");
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
    expect(turnTail(text)).toBe("open");
  });

  it("judges only the last word, ignoring punctuation after it", () => {
    expect(turnTail("and the coffee was cold...")).toBe("complete");
    expect(turnTail("the coffee was cold and —")).toBe("hesitation");
    expect(turnTail("   the   ")).toBe("open");
  });
});
