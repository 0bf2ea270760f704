// Questions spoken in the store's language: English with flite, the languages
// espeak-ng has with espeak-ng, the rest with flite and one warning per
// language. The synthesisers inside are the real programs.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { createSpeechSynthesizer } from "../../src/tts/createSpeechSynthesizer.ts";
import { EspeakTts, type VoiceLookup } from "../../src/tts/EspeakTts.ts";
import { FliteTts } from "../../src/tts/FliteTts.ts";
import { LanguageTts, type MultilingualSynthesizer } from "../../src/tts/LanguageTts.ts";
import type { SpeechSynthesizer } from "../../src/tts/SpeechSynthesizer.ts";
import { SynthesisCache } from "../../src/tts/SynthesisCache.ts";
import { SynthesisError } from "../../src/tts/SynthesisError.ts";
import { rms } from "./support.ts";

const SWEDISH = "Ungefär hur länge fick du vänta?";
const ENGLISH = "Roughly how long did you have to wait?";
const WARN = 40;

function capture() {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => lines.push(line) });
  const entries = () =>
    lines.map((line) => JSON.parse(line) as { level: number; msg: string; language?: string; reason?: string });
  return { logger, entries, warnings: () => entries().filter((e) => e.level === WARN) };
}

type Said = { text: string; language?: string }[];

/** A real synthesiser, recording what it was asked to say and in which language. */
function recording(inner: SpeechSynthesizer): SpeechSynthesizer & { said: Said } {
  const said: Said = [];
  return {
    name: inner.name,
    said,
    synthesize(text, signal, language) {
      said.push({ text, ...(language === undefined ? {} : { language }) });
      return inner.synthesize(text, signal, language);
    },
    close: () => inner.close?.(),
  };
}

/** The real espeak-ng, recording what it says and its voice checks. */
function checkedEspeak(options: ConstructorParameters<typeof EspeakTts>[0] = {}) {
  const espeak = new EspeakTts(options);
  const checks: string[] = [];
  return {
    ...recording(espeak),
    checks,
    voiceFor(language: string, signal?: AbortSignal): Promise<VoiceLookup> {
      checks.push(language);
      return espeak.voiceFor(language, signal);
    },
  };
}

function setup(espeakOptions: ConstructorParameters<typeof EspeakTts>[0] = {}) {
  const flite = recording(new FliteTts());
  const espeak = checkedEspeak(espeakOptions);
  const log = capture();
  const tts = new LanguageTts({ english: flite, others: espeak, logger: log.logger });
  return { tts, flite, espeak, ...log };
}

describe("LanguageTts", () => {
  it("speaks a Swedish conversation's clause with espeak-ng's Swedish voice, an English one with flite", async () => {
    const { tts, flite, espeak, warnings } = setup();
    try {
      expect(tts.name).toBe("flite:slt+espeak-ng");
      const swedish = await tts.synthesize(SWEDISH, undefined, "sv-SE");
      const english = await tts.synthesize(ENGLISH, undefined, "en-US");
      expect(espeak.said).toEqual([{ text: SWEDISH, language: "sv-SE" }]);
      expect(flite.said).toEqual([{ text: ENGLISH, language: "en-US" }]);
      expect((await tts.synthesizerFor("sv-SE")).name).toBe("espeak-ng");
      expect((await tts.synthesizerFor("en-GB")).name).toBe("flite:slt");
      // Each is what its synthesiser says directly.
      const direct = new EspeakTts();
      expect(Array.from(swedish)).toEqual(Array.from(await direct.synthesize(SWEDISH, undefined, "sv")));
      direct.close();
      const directFlite = new FliteTts();
      expect(Array.from(english)).toEqual(Array.from(await directFlite.synthesize(ENGLISH)));
      directFlite.close();
      expect(rms(swedish)).toBeGreaterThan(300);
      expect(warnings()).toEqual([]);
    } finally {
      tts.close();
    }
  });

  it("speaks English with flite when the conversation names no language, without asking espeak-ng", async () => {
    const { tts, flite, espeak, warnings } = setup();
    try {
      await tts.synthesize(ENGLISH);
      await tts.synthesize(ENGLISH, undefined, "");
      await tts.synthesize(ENGLISH, undefined, "EN");
      expect(flite.said.map((s) => s.text)).toEqual([ENGLISH, ENGLISH, ENGLISH]);
      expect(espeak.said).toEqual([]);
      expect(espeak.checks).toEqual([]);
      expect(warnings()).toEqual([]);
    } finally {
      tts.close();
    }
  });

  it("asks espeak-ng once per language: regional variants and concurrent first clauses share the answer", async () => {
    const { tts, espeak } = setup();
    try {
      await Promise.all([
        tts.synthesize("Hej.", undefined, "sv-SE"),
        tts.synthesize("Tack.", undefined, "sv-SE"),
        tts.synthesize("Hej då.", undefined, "sv-FI"),
      ]);
      await tts.synthesize("Välkommen tillbaka.", undefined, "sv");
      expect(espeak.checks).toEqual(["sv-SE"]);
      expect(espeak.said).toHaveLength(4);
    } finally {
      tts.close();
    }
  });

  it("speaks a language espeak-ng lacks with flite, and warns once for it, not once per clause", async () => {
    const { tts, flite, espeak, warnings } = setup();
    try {
      await tts.synthesize("Hello there.", undefined, "xx");
      await tts.synthesize("How was it?", undefined, "xx-YY");
      await tts.synthesize("Thanks.", undefined, "xx");
      expect(flite.said.map((s) => s.text)).toEqual(["Hello there.", "How was it?", "Thanks."]);
      expect(espeak.said).toEqual([]);
      expect(espeak.checks).toEqual(["xx"]);
      expect(warnings()).toEqual([
        expect.objectContaining({ language: "xx", reason: expect.stringMatching(/no voice for "xx"/) }),
      ]);
      expect(warnings()[0]?.msg).toMatch(/questions in "xx" are read by flite:slt, an English voice/);
      // Another language it lacks: a warning of its own.
      await tts.synthesize("Bye.", undefined, "zz");
      expect(warnings().map((w) => w.language)).toEqual(["xx", "zz"]);
    } finally {
      tts.close();
    }
  });

  it("speaks every language with flite when espeak-ng is not installed, warning once per language", async () => {
    const { tts, flite, espeak, warnings } = setup({ program: "/nonexistent/espeak-ng" });
    try {
      await tts.synthesize("Hej.", undefined, "sv-SE");
      await tts.synthesize("Tack.", undefined, "sv-SE");
      await tts.synthesize("Hallo.", undefined, "de");
      expect(flite.said.map((s) => s.text)).toEqual(["Hej.", "Tack.", "Hallo."]);
      expect(espeak.said).toEqual([]);
      expect(warnings().map((w) => [w.language, w.reason])).toEqual([
        ["sv-SE", "/nonexistent/espeak-ng is not installed"],
        ["de", "/nonexistent/espeak-ng is not installed"],
      ]);
    } finally {
      tts.close();
    }
  });

  it("fails the clause when espeak-ng could not tell, and asks again for the next one", async () => {
    const flite = recording(new FliteTts());
    let checks = 0;
    const others: MultilingualSynthesizer = {
      name: "flaky",
      synthesize: async () => new Int16Array(16),
      voiceFor: async (): Promise<VoiceLookup> => {
        if (++checks === 1) throw new SynthesisError("timeout", "no speech from espeak-ng within 5000 ms");
        return { found: true, voice: "sv" };
      },
    };
    const { logger, warnings } = capture();
    const tts = new LanguageTts({ english: flite, others, logger });
    try {
      await expect(tts.synthesize("Hej.", undefined, "sv")).rejects.toMatchObject({ reason: "timeout" });
      expect(await tts.synthesize("Hej.", undefined, "sv")).toHaveLength(16);
      expect(checks).toBe(2);
      expect(flite.said).toEqual([]);
      expect(warnings()).toEqual([]);
    } finally {
      tts.close();
    }
  });

  it("rejects as soon as the caller aborts, also while espeak-ng is being asked", async () => {
    const flite = new FliteTts();
    const others: MultilingualSynthesizer = {
      name: "silent",
      synthesize: async () => new Int16Array(16),
      voiceFor: () => new Promise<VoiceLookup>(() => {}),
    };
    const tts = new LanguageTts({ english: flite, others, logger: pino({ level: "silent" }) });
    try {
      const controller = new AbortController();
      const pending = tts.synthesize("Hej.", controller.signal, "sv");
      controller.abort();
      await expect(pending).rejects.toMatchObject({ name: "AbortError" });
      await expect(tts.synthesize("Hej.", controller.signal, "sv")).rejects.toMatchObject({ name: "AbortError" });
    } finally {
      tts.close();
    }
  });

  it("keeps the same words in two languages apart in the synthesis cache", async () => {
    const { tts, flite, espeak } = setup();
    const cache = new SynthesisCache(tts);
    try {
      const english = await cache.synthesize(SWEDISH, undefined, "en");
      const swedish = await cache.synthesize(SWEDISH, undefined, "sv-SE");
      expect(swedish).not.toBe(english);
      expect(Array.from(swedish)).not.toEqual(Array.from(english));
      expect(flite.said).toEqual([{ text: SWEDISH, language: "en" }]);
      expect(espeak.said).toEqual([{ text: SWEDISH, language: "sv-SE" }]);
      // Said again, each comes from the cache: no more runs.
      expect(await cache.synthesize(SWEDISH, undefined, "sv-SE")).toBe(swedish);
      expect(await cache.synthesize(SWEDISH, undefined, "en")).toBe(english);
      expect(flite.said).toHaveLength(1);
      expect(espeak.said).toHaveLength(1);
      expect(cache.size).toBe(2);
    } finally {
      cache.close();
    }
  });
});

describe("createSpeechSynthesizer", () => {
  it("makes the node's synthesiser: flite and espeak-ng by language, behind the cache, and reports its setup", async () => {
    const { logger, entries } = capture();
    const tts = createSpeechSynthesizer({ voice: "slt", cacheSeconds: 60, logger });
    try {
      expect(tts).toBeInstanceOf(SynthesisCache);
      expect(tts.name).toBe("flite:slt+espeak-ng");
      const swedish = await tts.synthesize(SWEDISH, undefined, "sv-SE");
      const direct = new EspeakTts();
      expect(Array.from(swedish)).toEqual(Array.from(await direct.synthesize(SWEDISH, undefined, "sv-SE")));
      direct.close();
      // Both programs are installed here: nothing above debug.
      await expect.poll(() => entries().filter((e) => /^speech synthesiser.* found$/.test(e.msg)).length).toBe(2);
      expect(entries().filter((e) => e.level >= WARN)).toEqual([]);
    } finally {
      tts.close?.();
    }
    const uncached = createSpeechSynthesizer({ cacheSeconds: 0, logger: pino({ level: "silent" }) });
    expect(uncached).toBeInstanceOf(LanguageTts);
    uncached.close?.();
  });
});
