import { describe, expect, it } from "vitest";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { BuiltinFollowUpPlanner, type FollowUpInput, isRepeat } from "../../src/scoring/FollowUpPlanner.ts";

const scorer = new BuiltinScorer();
const planner = new BuiltinFollowUpPlanner();
const input = (transcript: string, asked: string[] = []): FollowUpInput => ({
  score: scorer.scoreSync(transcript),
  transcript,
  asked,
});

describe("BuiltinFollowUpPlanner", () => {
  it("aims at the weakest part, so the question varies with it", () => {
    const offTopic = planner.planSync(input("the weather was nice and i watched football with my dog"));
    const vagueWait = planner.planSync(input("the coffee was cold and the staff were slow"));
    const praise = planner.planSync(input("the service was great"));
    expect(offTopic?.aimedAt).toBe("relevance");
    expect(vagueWait?.aimedAt).toBe("specificity");
    expect(praise?.aimedAt).toBe("actionability");
    expect(new Set([offTopic?.text, vagueWait?.text, praise?.text]).size).toBe(3);
    for (const q of [offTopic, vagueWait, praise]) expect(q?.text).toMatch(/\?$/);
  });

  it("asks about the topic the customer raised", () => {
    expect(planner.planSync(input("the queue was slow and i was annoyed"))?.text).toBe(
      "Roughly how long did you have to wait?",
    );
    expect(planner.planSync(input("the service was great"))?.text).toBe("What should they make sure to keep doing?");
    expect(planner.planSync(input("the card reader failed twice so i waited ten minutes at nine today"))).toMatchObject(
      {
        aimedAt: "actionability",
      },
    );
  });

  it("never repeats a question asked in this conversation", () => {
    const transcript = "the coffee was cold and the staff were slow";
    const asked: string[] = [];
    for (let turn = 0; turn < 8; turn++) {
      const q = planner.planSync(input(transcript, asked));
      if (!q) break;
      expect(isRepeat(q.text, asked)).toBe(false);
      asked.push(q.text);
    }
    expect(asked.length).toBeGreaterThanOrEqual(5);
    expect(new Set(asked).size).toBe(asked.length);
  });

  it("treats a reworded question as a repeat", () => {
    const first = planner.planSync(input("the queue was slow"))!;
    const next = planner.planSync(input("the queue was slow", [first.text.toUpperCase().replace("?", " please?")]));
    expect(next?.text).not.toBe(first.text);
  });

  it("returns undefined once every fitting question was asked", () => {
    const transcript = "it was fine";
    const asked: string[] = [];
    for (let q = planner.planSync(input(transcript, asked)); q; q = planner.planSync(input(transcript, asked))) {
      asked.push(q.text);
      expect(asked.length).toBeLessThan(40);
    }
    expect(planner.planSync(input(transcript, asked))).toBeUndefined();
  });
});
