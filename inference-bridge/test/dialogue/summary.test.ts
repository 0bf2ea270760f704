// The end screen's summary quotes the customer's most specific clause, found
// by the word lists of the conversation's language.
import { describe, expect, it } from "vitest";
import { summarize } from "../../src/dialogue/summary.ts";
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
    expect(summary.startsWith("Negative feedback about waiting time")).toBe(true);
  });

  it("says when nothing was said", () => {
    expect(summarize("  ", score(0, []), "en")).toBe("No feedback was given.");
  });
});
