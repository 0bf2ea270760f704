// The end screen's summary quotes the customer's most specific clause, found
// by the word lists of the conversation's language, and is written in it.
import { describe, expect, it } from "vitest";
import { summarize } from "../../src/dialogue/summary.ts";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import type { FeedbackScoreResult } from "../../src/scoring/types.ts";

const score = (sentiment: number, topics: FeedbackScoreResult["topics"]): FeedbackScoreResult => ({
  engine: "builtin",
  score: 60,
  specificity: 0.5,
  actionability: 0.5,
  sentiment,
  relevance: 0.9,
  topics,
  hint: "",
});

describe("the summary", () => {
  it("quotes the clause with the most detail, read in the conversation's language", () => {
    // Twelve words of nothing, then twelve with a wait, a product and a problem.
    const swedish =
      "ja alltså det var väl helt okej på det hela taget tycker jag nog ändå " +
      "men jag väntade i tjugo minuter på kaffet och det var kallt";
    const summary = summarize(swedish, score(-0.6, ["waiting_time"]), "sv-SE");
    expect(summary).toContain("jag väntade i tjugo minuter");
    expect(summary.startsWith("Negativ feedback om väntetid")).toBe(true);
  });

  it("says when nothing was said", () => {
    expect(summarize("  ", score(0, []), "en")).toBe("No feedback was given.");
  });
});

describe("the summary in the conversation's language", () => {
  const COMPLAINT_SV = "kaffet var kallt och kassören var otrevlig";
  const COMPLAINT_EN = "the coffee was cold and the cashier was rude";
  const scored = (text: string, language: string) => new BuiltinScorer({ language }).scoreSync(text);

  it("writes a Swedish summary of a Swedish conversation: tone word, topic names and framing", () => {
    expect(summarize(COMPLAINT_SV, scored(COMPLAINT_SV, "sv"), "sv")).toBe(
      "Negativ feedback om produktkvalitet, service: ”kaffet var kallt och kassören var otrevlig”.",
    );
    expect(summarize("baristan var trevlig", score(0.6, ["service", "waiting_time"]), "sv-SE")).toBe(
      "Positiv feedback om service, väntetid: ”baristan var trevlig”.",
    );
    expect(summarize("det var väl okej", score(0, []), "SV")).toBe(
      "Blandad feedback om helhetsintrycket: ”det var väl okej”.",
    );
  });

  it("says in Swedish that nothing was said", () => {
    for (const tag of ["sv", "sv-SE", "SV"])
      expect(summarize("  ", score(0, []), tag), tag).toBe("Ingen feedback lämnades.");
  });

  it("keeps the English summary as it was", () => {
    for (const tag of [undefined, "", "en", "en-GB"]) {
      expect(summarize(COMPLAINT_EN, scored(COMPLAINT_EN, "en"), tag), tag).toBe(
        'Negative feedback about product quality, service: "the coffee was cold and the cashier was rude".',
      );
    }
    expect(summarize("it was fine i guess", score(0, []), "en")).toBe(
      'Mixed feedback about general impression: "it was fine i guess".',
    );
  });

  it("writes English for a language without word lists", () => {
    const finnish = "kahvi oli kylmää ja kassa oli töykeä";
    expect(summarize(finnish, score(-0.6, ["waiting_time"]), "fi")).toBe(
      `Negative feedback about waiting time: "${finnish}".`,
    );
    expect(summarize("", score(0, []), "fi-FI")).toBe("No feedback was given.");
  });
});
