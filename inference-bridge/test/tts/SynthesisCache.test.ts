// The node-wide cache of synthesised speech, in front of the real flite.
import { register } from "prom-client";
import { describe, expect, it } from "vitest";
import { FliteTts, type SpeechSynthesizer } from "../../src/tts/FliteTts.ts";
import { SynthesisCache } from "../../src/tts/SynthesisCache.ts";

/** flite, counting the texts it was asked to say (and the languages they were in). */
function countingFlite(voice = "slt"): SpeechSynthesizer & { runs: string[]; languages: (string | undefined)[] } {
  const flite = new FliteTts(voice);
  const runs: string[] = [];
  const languages: (string | undefined)[] = [];
  return {
    name: flite.name,
    runs,
    languages,
    synthesize(text, signal, language) {
      runs.push(text);
      languages.push(language);
      return flite.synthesize(text, signal);
    },
    close: () => flite.close(),
  };
}

async function syntheses(source: string): Promise<number> {
  const metric = (await register.getSingleMetric("tts_syntheses_total")?.get())?.values ?? [];
  return metric.find((v) => v.labels.source === source)?.value ?? 0;
}

describe("SynthesisCache", () => {
  it("says a text it said before without running flite again, with the same samples", async () => {
    const flite = countingFlite();
    const cache = new SynthesisCache(flite);
    const hitsBefore = await syntheses("cache");
    const first = await cache.synthesize("How long did you wait?");
    const again = await cache.synthesize("How long did you wait?");
    expect(again).toBe(first);
    expect(first.length / 16_000).toBeGreaterThan(0.5);
    const other = await cache.synthesize("What did you order?");
    expect(other).not.toEqual(first);
    expect(flite.runs).toEqual(["How long did you wait?", "What did you order?"]);
    expect(cache.size).toBe(2);
    expect(cache.samples).toBe(first.length + other.length);
    expect((await syntheses("cache")) - hitsBefore).toBe(1);
    expect(cache.name).toBe("flite:slt");
    cache.close();
  });

  it("keeps at most its bound of audio, dropping the least recently used first", async () => {
    const flite = countingFlite();
    const cache = new SynthesisCache(flite, 4); // 4 s of audio
    const texts = ["Thanks for coming in.", "Was the table clean?", "Would you come back?", "How was the coffee?"];
    await cache.synthesize(texts[0]!);
    await cache.synthesize(texts[1]!);
    await cache.synthesize(texts[0]!); // used again: the second is now the oldest
    await cache.synthesize(texts[2]!);
    await cache.synthesize(texts[3]!);
    expect(cache.samples).toBeLessThanOrEqual(4 * 16_000);
    expect(cache.size).toBeLessThan(4);
    flite.runs.length = 0;
    await cache.synthesize(texts[3]!); // the newest is kept
    expect(flite.runs).toEqual([]);
    await cache.synthesize(texts[1]!); // the least recently used went first
    expect(flite.runs).toEqual([texts[1]]);
    cache.close();
  });

  it("keeps nothing longer than its bound, and no failure", async () => {
    const tiny = new SynthesisCache(countingFlite(), 0.2);
    await tiny.synthesize("This sentence takes more than a fifth of a second to say.");
    expect(tiny.size).toBe(0);
    tiny.close();
    // Debian's "kal" voice speaks at 8 kHz: flite's output is refused, every time.
    const kal = countingFlite("kal");
    const cache = new SynthesisCache(kal);
    await expect(cache.synthesize("hello")).rejects.toThrow(/expected 16 kHz/);
    await expect(cache.synthesize("hello")).rejects.toThrow(/expected 16 kHz/);
    expect(kal.runs).toEqual(["hello", "hello"]);
    cache.close();
  });

  it("rejects an aborted request like flite does, cached or not", async () => {
    const flite = countingFlite();
    const cache = new SynthesisCache(flite);
    await cache.synthesize("hello there");
    const controller = new AbortController();
    controller.abort();
    await expect(cache.synthesize("hello there", controller.signal)).rejects.toMatchObject({ name: "AbortError" });
    await expect(cache.synthesize("not yet said", controller.signal)).rejects.toMatchObject({ name: "AbortError" });
    expect(flite.runs).toEqual(["hello there"]);
    cache.close();
  });

  it("keeps a text by its language too: the same words in another language are synthesised anew", async () => {
    const flite = countingFlite();
    const cache = new SynthesisCache(flite);
    const none = await cache.synthesize("Okay?");
    const swedish = await cache.synthesize("Okay?", undefined, "sv-SE");
    const english = await cache.synthesize("Okay?", undefined, "en");
    expect(swedish).not.toBe(none);
    expect(english).not.toBe(swedish);
    expect(flite.languages).toEqual([undefined, "sv-SE", "en"]);
    expect(await cache.synthesize("Okay?", undefined, "sv-SE")).toBe(swedish);
    expect(await cache.synthesize("Okay?")).toBe(none);
    expect(flite.runs).toHaveLength(3);
    expect(cache.size).toBe(3);
    cache.close();
  });
});
