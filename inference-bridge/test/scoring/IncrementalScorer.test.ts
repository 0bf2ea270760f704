import { describe, expect, it } from "vitest";
import { IncrementalScorer, type ScoreUpdate } from "../../src/scoring/IncrementalScorer.ts";
import { extendsText } from "../../src/scoring/text.ts";
import type { FeedbackScoreResult } from "../../src/scoring/types.ts";
import { DeferredEngine, fakeResult, flush, ManualClock } from "./fakes.ts";

interface Published {
  result: FeedbackScoreResult;
  through: number | undefined;
  update: ScoreUpdate;
}

function setup(partialIntervalMs = 2_000) {
  const engine = new DeferredEngine();
  const clock = new ManualClock();
  const published: Published[] = [];
  const errors: unknown[] = [];
  const scorer = new IncrementalScorer({
    engine,
    clock,
    partialIntervalMs,
    onScore: (result, through, update) => published.push({ result, through, update }),
    onError: (err) => errors.push(err),
  });
  return { engine, clock, published, errors, scorer };
}

/** Feeds growing partials of `text`, one word more every `stepMs`. */
function speak(t: ReturnType<typeof setup>, text: string, stepMs: number): void {
  const w = text.split(" ");
  for (let i = 1; i <= w.length; i++) {
    t.scorer.onPartial(w.slice(0, i).join(" "), 0.9);
    t.clock.advance(stepMs);
  }
}

describe("IncrementalScorer", () => {
  it("scores a final at once and publishes it with its segment id", async () => {
    const t = setup();
    t.scorer.onFinal(0, "the coffee was cold");
    expect(t.engine.calls.map((c) => c.text)).toEqual(["the coffee was cold"]);
    t.engine.last.resolve();
    await flush();
    expect(t.published).toHaveLength(1);
    expect(t.published[0]).toMatchObject({
      through: 0,
      update: { basis: "final", isFinal: false, text: "the coffee was cold" },
    });
  });

  it("keeps a final's request when a newer final comes, publishes it, then scores the newest text", async () => {
    const t = setup();
    t.scorer.onFinal(0, "the coffee was cold");
    const first = t.engine.last;
    t.scorer.onFinal(1, "the coffee was cold and the barista was rude");
    t.scorer.onFinal(2, "the coffee was cold and the barista was rude and slow");
    expect(first.signal.aborted).toBe(false);
    expect(t.engine.calls).toHaveLength(1); // one request at a time
    first.resolve();
    await flush();
    // Only the newest final text waited; the one in between was never sent.
    expect(t.engine.calls.map((c) => c.text)).toEqual([
      "the coffee was cold",
      "the coffee was cold and the barista was rude and slow",
    ]);
    t.engine.last.resolve();
    await flush();
    expect(t.published.map((p) => [p.update.text, p.through])).toEqual([
      ["the coffee was cold", 0], // through the segment it judged, not the newest
      ["the coffee was cold and the barista was rude and slow", 2],
    ]);
  });

  it("lands partial scores while the customer talks even when the engine is slower than the interval", async () => {
    const t = setup(2_000);
    const said = "the coffee was cold and the staff were slow and a bit rude to me at the counter today so i left";
    const w = `${said} and then ${said}`.split(" ");
    const ENGINE_MS = 3_000; // each request takes this long; one is due every 2 s
    const sentAt: number[] = [];
    const noteSent = () => {
      while (sentAt.length < t.engine.calls.length) sentAt.push(t.clock.now());
    };
    // A word every 250 ms for 10 s; the engine answers each request 3 s after it was sent.
    for (let spoken = 2; spoken <= w.length; spoken++) {
      t.scorer.onPartial(w.slice(0, spoken).join(" "), 0.9);
      noteSent();
      t.engine.calls.forEach((call, i) => {
        if (t.clock.now() - sentAt[i]! === ENGINE_MS) call.resolve();
      });
      await flush();
      noteSent();
      t.clock.advance(250);
    }
    expect(t.engine.calls.some((c) => c.signal.aborted)).toBe(false);
    expect(t.published.length).toBeGreaterThanOrEqual(2);
    expect(t.published.every((p) => p.update.basis === "partial")).toBe(true);
    // Each extends what was shown before it.
    const texts = t.published.map((p) => p.update.text);
    for (let i = 1; i < texts.length; i++) expect(extendsText(texts[i]!, texts[i - 1]!)).toBe(true);
    expect(new Set(t.engine.calls.map((c) => c.priority))).toEqual(new Set(["routine"]));
  });

  it("asks for a final's score and the final score ahead of partial re-scores in the engine's queue", async () => {
    const t = setup(0);
    t.scorer.onPartial("the barista", 0.5);
    t.scorer.onPartial("the barista was", 0.5);
    t.engine.last.resolve();
    await flush();
    t.scorer.onFinal(0, "the barista was lovely");
    t.engine.last.resolve();
    await flush();
    t.scorer.onFinal(1, "the barista was lovely and quick");
    const finishing = t.scorer.finish();
    t.engine.last.resolve();
    await finishing;
    expect(t.engine.calls.map((c) => [c.text, c.priority])).toEqual([
      ["the barista", "routine"],
      ["the barista was lovely", "urgent"],
      ["the barista was lovely and quick", "urgent"],
    ]);
  });

  it("scores partials at most once per interval, with the latest stable words", async () => {
    const t = setup(2_000);
    t.scorer.onFinal(0, "hello");
    t.engine.last.resolve();
    await flush();
    expect(t.engine.calls).toHaveLength(1);
    // 13 partials, one every 100 ms: all within the interval that began with the final's request.
    speak(t, "the coffee was cold and the staff were slow and a bit rude", 100);
    expect(t.engine.calls).toHaveLength(1);
    t.clock.advance(699);
    expect(t.engine.calls).toHaveLength(1);
    t.clock.advance(1);
    expect(t.engine.calls).toHaveLength(2);
    // Only words two consecutive partials agreed on: the last word is not yet stable.
    expect(t.engine.last.text).toBe("hello the coffee was cold and the staff were slow and a bit");
    t.engine.last.resolve();
    await flush();
    t.scorer.onPartial("the coffee was cold and the staff were slow and a bit rude to me", 0.9);
    t.clock.advance(1_000);
    expect(t.engine.calls).toHaveLength(2); // still inside the interval
    t.clock.advance(1_000);
    expect(t.engine.calls).toHaveLength(3);
    expect(t.engine.last.text).toBe("hello the coffee was cold and the staff were slow and a bit rude");
  });

  it("scores finals at once even right after a partial-based score", async () => {
    const t = setup();
    t.scorer.onPartial("the barista", 0.5);
    t.scorer.onPartial("the barista was", 0.9);
    expect(t.engine.calls).toHaveLength(1);
    t.engine.last.resolve();
    await flush();
    t.clock.advance(10);
    t.scorer.onFinal(0, "the barista was lovely");
    expect(t.engine.calls).toHaveLength(2);
    expect(t.engine.last.text).toBe("the barista was lovely");
  });

  it("never moves the score on a partial that is later corrected", async () => {
    const t = setup(0);
    t.scorer.onPartial("the barista was rude", 0.5);
    t.scorer.onPartial("the barista was great", 0.5); // "rude" was a misrecognition
    for (const c of t.engine.calls) c.resolve();
    await flush();
    t.scorer.onPartial("the barista was great to me", 0.7);
    for (const c of t.engine.calls) c.resolve();
    await flush();
    t.scorer.onFinal(0, "the barista was great to me");
    for (const c of t.engine.calls) c.resolve();
    await flush();

    expect(t.engine.calls.map((c) => c.text).some((text) => text.includes("rude"))).toBe(false);
    const texts = t.published.map((p) => p.update.text);
    expect(texts).toEqual(["the barista was", "the barista was great", "the barista was great to me"]);
    // Each partial-based score judged an extension of what was shown before.
    for (let i = 1; i < texts.length; i++) expect(extendsText(texts[i]!, texts[i - 1]!)).toBe(true);
  });

  it("drops a partial-based score whose words a final corrected meanwhile, without cancelling it", async () => {
    const t = setup(0);
    t.scorer.onPartial("i waited fifteen", 0.5);
    t.scorer.onPartial("i waited fifteen minutes", 0.5);
    const partial = t.engine.last;
    expect(partial.text).toBe("i waited fifteen");
    t.scorer.onFinal(0, "i waited fifty minutes");
    expect(partial.signal.aborted).toBe(false);
    expect(t.engine.calls).toHaveLength(1); // the final waits for it
    partial.resolve();
    await flush();
    expect(t.engine.last.text).toBe("i waited fifty minutes");
    t.engine.last.resolve();
    await flush();
    expect(t.published.map((p) => p.update.text)).toEqual(["i waited fifty minutes"]);
  });

  it("publishes a partial-based score that the final text meanwhile confirmed", async () => {
    const t = setup(0);
    t.scorer.onPartial("i waited", 0.5);
    t.scorer.onPartial("i waited fifteen", 0.5);
    const partial = t.engine.last;
    t.scorer.onFinal(0, "i waited fifteen minutes");
    partial.resolve();
    await flush();
    t.engine.last.resolve();
    await flush();
    expect(t.published.map((p) => [p.update.basis, p.update.text])).toEqual([
      ["partial", "i waited"],
      ["final", "i waited fifteen minutes"],
    ]);
  });

  it("lets a final's score land before scoring newer partials", async () => {
    const t = setup(2_000);
    t.scorer.onFinal(0, "the coffee was cold");
    const final = t.engine.last;
    t.clock.advance(100);
    t.scorer.onPartial("and the", 0.5);
    t.scorer.onPartial("and the staff", 0.5);
    t.clock.advance(10_000);
    expect(t.engine.calls).toHaveLength(1);
    expect(final.signal.aborted).toBe(false);
    final.resolve();
    await flush();
    expect(t.engine.calls).toHaveLength(2);
    expect(t.engine.last.text).toBe("the coffee was cold and the");
  });

  it("finish() scores the final text once, marks it final and stops partial scoring", async () => {
    const t = setup();
    t.scorer.onFinal(0, "the coffee was cold");
    t.engine.last.resolve();
    await flush();
    t.scorer.onPartial("and the", 0.5);
    t.scorer.onPartial("and the staff", 0.5); // scheduled for later
    t.scorer.onFinal(1, "the coffee was cold and the staff were slow");
    const finishing = t.scorer.finish();
    t.engine.last.resolve();
    const result = await finishing;
    t.clock.advance(60_000);
    expect(result.score).toBe(9);
    expect(t.published.at(-1)).toMatchObject({ through: 1, update: { basis: "finish", isFinal: true } });
    expect(t.engine.calls.map((c) => c.text)).toEqual([
      "the coffee was cold",
      "the coffee was cold and the staff were slow",
    ]);
    t.scorer.onFinal(2, "more words");
    expect(t.engine.calls).toHaveLength(2);
  });

  it("finish() reuses the score of an unchanged final text", async () => {
    const t = setup();
    t.scorer.onFinal(3, "the staff were lovely");
    t.engine.last.resolve();
    await flush();
    const result = await t.scorer.finish();
    expect(result.score).toBe(4);
    expect(t.engine.calls).toHaveLength(1);
    expect(t.published.filter((p) => p.update.isFinal)).toHaveLength(1);
  });

  it("finishNow() scores at once with the given scorer, cancelling the request in flight and a finish() waiting on it", async () => {
    const t = setup();
    t.scorer.onFinal(0, "the coffee was cold");
    const call = t.engine.last;
    const finishing = t.scorer.finish(); // waits for the engine…
    const now = { ...fakeResult("x"), score: 42, engine: "builtin" };
    const result = t.scorer.finishNow(" the coffee  was cold and rude ", 0, (text) => ({ ...now, hint: text }));
    expect(call.signal.aborted).toBe(true); // …which is not waited for
    call.resolve(); // an engine that answers anyway: finish() has nothing to publish
    await expect(finishing).rejects.toThrow(/closed before its final score/);
    expect(result).toMatchObject({ score: 42, hint: "the coffee was cold and rude" });
    expect(t.published).toEqual([
      { result, through: 0, update: { text: "the coffee was cold and rude", basis: "finish", isFinal: true } },
    ]);
    expect(t.scorer.finishNow("again", 0, () => now)).toBeUndefined();
    expect(t.published).toHaveLength(1);
    expect(t.engine.calls).toHaveLength(1);
  });

  it("finishNow() keeps the last score when it judged exactly that text", async () => {
    const t = setup();
    t.scorer.onFinal(2, "the staff were lovely");
    t.engine.last.resolve();
    await flush();
    const result = t.scorer.finishNow("the staff were lovely", 2, () => {
      throw new Error("not needed");
    });
    expect(result).toBe(t.published[0]!.result);
    expect(t.published.at(-1)?.update).toMatchObject({ basis: "finish", isFinal: true });
  });

  it("close() cancels the request in flight and publishes nothing more", async () => {
    const t = setup();
    t.scorer.onFinal(0, "the coffee was cold");
    const call = t.engine.last;
    t.scorer.close();
    expect(call.signal.aborted).toBe(true);
    call.resolve();
    await flush();
    t.scorer.onFinal(1, "the coffee was cold again");
    t.clock.advance(10_000);
    expect(t.published).toHaveLength(0);
    expect(t.engine.calls).toHaveLength(1);
  });

  it("reports engine failures and tries the same text again on the next change", async () => {
    const t = setup(0);
    t.scorer.onFinal(0, "the coffee was cold");
    t.engine.last.reject(new Error("engine down"));
    await flush();
    expect(t.errors).toHaveLength(1);
    t.scorer.onFinal(0, "the coffee was cold");
    expect(t.engine.calls).toHaveLength(2);
  });
});
