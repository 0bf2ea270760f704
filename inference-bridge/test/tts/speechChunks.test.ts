import { describe, expect, it } from "vitest";
import { speechChunks } from "../../src/tts/speechChunks.ts";

describe("speechChunks", () => {
  it("cuts the first clause off at a colon or comma", () => {
    expect(speechChunks("What was wrong with it: the taste, the temperature, or something else?")).toEqual([
      "What was wrong with it:",
      "the taste, the temperature, or something else?",
    ]);
    expect(speechChunks("Who served you, and what did they do that stood out?")).toEqual([
      "Who served you,",
      "and what did they do that stood out?",
    ]);
  });

  it("cuts after the first sentence of several", () => {
    expect(speechChunks("Thanks for that. Roughly how long did you have to wait?")).toEqual([
      "Thanks for that.",
      "Roughly how long did you have to wait?",
    ]);
  });

  it("keeps a sentence without a clause break whole (a cut inside a clause sounds like two sentences)", () => {
    expect(speechChunks("Roughly how long did you have to wait?")).toEqual(["Roughly how long did you have to wait?"]);
  });

  it("does not cut off a one-word opener, but cuts at the next break", () => {
    expect(speechChunks("So, what did you order, and when?")).toEqual(["So, what did you order,", "and when?"]);
    expect(speechChunks("Well, thanks!")).toEqual(["Well, thanks!"]);
  });

  it("does not cut at a decimal point or before trailing punctuation", () => {
    expect(speechChunks("Was it 3.5 kronor more than usual?")).toEqual(["Was it 3.5 kronor more than usual?"]);
    expect(speechChunks("Really, …")).toEqual(["Really, …"]);
    expect(speechChunks("What happened next? ?")).toEqual(["What happened next? ?"]);
  });

  it("returns nothing for empty text", () => {
    expect(speechChunks("   ")).toEqual([]);
  });
});
