// The turn decision as plain logic: scripted voice activity (the voice
// detector's voiced frames, at wall-clock times and positions on the
// conversation clock) and scripted recogniser output, with the lags measured
// from pocketsphinx through the node (partials ~330 ms behind the voice, the
// utterance closed 0.6–1.7 s after it).
import { describe, expect, it } from "vitest";
import { DEFAULT_TURN_DETECTION, TurnDetector, type TurnDetectorConfig } from "../../src/dialogue/TurnDetector.ts";

const CONFIG: TurnDetectorConfig = {
  completeSilenceMs: 500,
  openSilenceMs: 1_200,
  hesitationSilenceMs: 2_000,
  settleMs: 600,
  prepareAheadMs: 700,
  prepareAfterMs: 250,
  missedVoiceMs: 500,
  minStability: 0.5,
  burstGapMs: 400,
  language: "en",
};
/** PCM reaches the node this long after its place on the conversation clock. */
const ARRIVAL_MS = 20;

function script(config: Partial<TurnDetectorConfig> = {}) {
  const detector = new TurnDetector({ ...CONFIG, ...config });
  const segments = new Map<number, string>();
  const screen = () =>
    [...segments.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, text]) => text)
      .filter(Boolean)
      .join(" ");
  const heard = (
    at: number,
    segmentId: number,
    text: string,
    endMs: number,
    isFinal: boolean,
    speechFinal: boolean,
    lagMs = 0,
  ) => {
    segments.set(segmentId, text);
    const segment = { segmentId, text, endMs, isFinal, speechFinal, stability: isFinal ? 1 : 0.9 };
    detector.heard(segment, screen(), at, lagMs);
  };
  return {
    detector,
    /** Voiced frames every 20 ms for audio [fromMs, toMs]. */
    talk(fromMs: number, toMs: number) {
      for (let audio = fromMs; audio <= toMs; audio += 20) detector.voice(audio + ARRIVAL_MS, audio);
    },
    partial: (at: number, id: number, text: string, endMs: number, lagMs = 0) =>
      heard(at, id, text, endMs, false, false, lagMs),
    final: (at: number, id: number, text: string, endMs: number, speechFinal = true) =>
      heard(at, id, text, endMs, true, speechFinal),
    heardRaw: (at: number, segment: { segmentId: number; text: string; endMs: number; stability: number }) => {
      segments.set(segment.segmentId, segment.text);
      detector.heard({ ...segment, isFinal: false, speechFinal: false }, screen(), at);
    },
    outlook: () => detector.outlook(),
  };
}

describe("TurnDetector", () => {
  it("has nothing to decide before the customer said anything", () => {
    const s = script();
    expect(s.outlook()).toBeUndefined();
    s.talk(1_000, 1_500); // a cough: voice, but no words
    expect(s.outlook()).toBeUndefined();
  });

  it("complete sentence: the turn ends after the short silence, once a partial covers the last voiced frame", () => {
    const s = script();
    s.talk(1_000, 3_000); // last voiced frame at 3000 (arrives 3020)
    s.partial(2_900, 0, "the coffee was cold and nobody at the counter noticed", 2_600);
    // Not caught up yet: the partial is 400 ms behind the voice.
    expect(s.outlook()).toMatchObject({ tail: "complete", voiceAt: 3_020 });
    s.partial(3_350, 0, "the coffee was cold and nobody at the counter noticed it", 3_060);
    const outlook = s.outlook()!;
    expect(outlook.tail).toBe("complete");
    expect(outlook.endsAt).toBe(3_020 + 500);
    // The answer may be prepared once the silence is longer than a gap between words.
    expect(outlook.prepareAt).toBe(3_020 + 250);
    expect(outlook.text).toBe("the coffee was cold and nobody at the counter noticed it");
  });

  it("judges how the words end by the customer's language", () => {
    const words = "kaffet var kallt och";
    const tailIn = (language: string) => {
      const s = script({ language });
      s.talk(1_000, 3_000);
      s.partial(3_350, 0, words, 3_060);
      return s.outlook()!;
    };
    expect(tailIn("sv-SE")).toMatchObject({ tail: "hesitation", endsAt: 3_020 + 2_000 });
    expect(tailIn("en")).toMatchObject({ tail: "complete", endsAt: 3_020 + 500 }); // no English word dangles
    expect(tailIn("fi-FI")).toMatchObject({ tail: "open", endsAt: 3_020 + 1_200 }); // no rules: no short wait
  });

  it("never ends before the recogniser caught up: a partial covering the voice late sets the end", () => {
    const s = script();
    s.talk(1_000, 3_000);
    s.partial(3_100, 0, "nobody noticed", 2_800);
    s.partial(3_700, 0, "nobody noticed it", 3_100); // a slow worker: 680 ms after the voice
    expect(s.outlook()!.endsAt).toBe(3_700);
  });

  it("without a covering partial, words unchanged for settleMs after the voice count as caught up", () => {
    const s = script();
    s.talk(1_000, 3_000);
    s.partial(2_950, 0, "nobody noticed it", 2_700); // the last word was already in
    expect(s.outlook()!.endsAt).toBe(3_020 + 600);
    // A later change of words restarts that wait.
    s.partial(3_300, 0, "nobody noticed this", 2_820);
    expect(s.outlook()!.endsAt).toBe(3_300 + 600);
  });

  it("a recogniser running behind (a busy machine): unchanged words count as settled only after it reached the voice's end", () => {
    const s = script();
    s.talk(1_000, 3_000);
    // Results come 2 s after their audio: at 4000 it has heard up to ~2000.
    s.partial(4_000, 0, "the coffee was cold", 1_900, 2_000);
    // Not 3020 + 600: the words about the last second of voice have not come yet.
    expect(s.outlook()!.endsAt).toBe(3_020 + 2_000 + 600);
    // It catches up: a partial covering the voice ends the wait.
    s.partial(5_100, 0, "the coffee was cold and nobody noticed it", 3_060, 2_040);
    expect(s.outlook()!.endsAt).toBe(5_100);
  });

  it("a partial that rewrote most of its words does not show the recogniser caught up", () => {
    const s = script();
    s.talk(1_000, 3_000);
    s.heardRaw(3_600, { segmentId: 0, text: "nobody at the counter", endMs: 3_100, stability: 0.5 });
    expect(s.outlook()!.endsAt).toBe(3_600); // stable enough: heard when it came
    const t = script();
    t.talk(1_000, 3_000);
    t.heardRaw(3_600, { segmentId: 0, text: "nobody at the counter", endMs: 3_100, stability: 0 });
    expect(t.outlook()!.endsAt).toBe(3_600 + 600); // rewritten: wait for it to settle
  });

  it("the recogniser closing the utterance after the voice counts as caught up", () => {
    const s = script();
    s.talk(1_000, 3_000);
    s.partial(2_950, 0, "nobody noticed", 2_700);
    s.final(3_450, 0, "nobody noticed it", 3_200);
    expect(s.outlook()!.endsAt).toBe(3_520);
    const t = script();
    t.talk(1_000, 3_000);
    t.final(3_900, 0, "nobody noticed it", 3_200);
    expect(t.outlook()!.endsAt).toBe(3_900);
  });

  it("dangling conjunction: a long silence before the turn ends", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was cold and", 2_100);
    const outlook = s.outlook()!;
    expect(outlook.tail).toBe("hesitation");
    expect(outlook.endsAt).toBe(2_020 + 2_000);
    // Not worth preparing an answer until the end is near.
    expect(outlook.prepareAt).toBe(2_020 + 2_000 - 700);
  });

  it("filler: 'um' (and the 'and' pocketsphinx hears for it) waits as long as a conjunction", () => {
    for (const words of ["the coffee was um", "the coffee was and"]) {
      const s = script();
      s.talk(1_000, 2_000);
      s.partial(2_350, 0, words, 2_100);
      expect(s.outlook()).toMatchObject({ tail: "hesitation", endsAt: 2_020 + 2_000 });
    }
  });

  it("a word that needs more after it ('was', 'to', 'the') waits longer than a complete thought", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was", 2_100);
    expect(s.outlook()).toMatchObject({ tail: "open", endsAt: 2_020 + 1_200 });
  });

  it("mid-thought pause, then more words: the end moves with the voice and follows the new words", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was", 2_100);
    s.final(2_700, 0, "the coffee was", 2_300);
    // One second later the customer goes on: "cold and nobody noticed it".
    s.talk(3_000, 4_500);
    expect(s.outlook()!.voiceAt).toBe(4_520);
    expect(s.outlook()!.tail).toBe("open"); // what the recogniser has so far
    s.partial(4_850, 1, "cold and nobody noticed it", 4_560);
    expect(s.outlook()).toMatchObject({
      tail: "complete",
      endsAt: 4_520 + 500,
      text: "the coffee was cold and nobody noticed it",
    });
  });

  it("long pause after a dangling word: the turn still ends, after the long silence", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "and then I waited because", 2_100);
    s.final(3_100, 0, "and then I waited because", 2_400);
    // Nothing more for seconds: the outlook stands, the end is in the past.
    const outlook = s.outlook()!;
    expect(outlook.endsAt).toBe(4_020);
    expect(outlook.endsAt).toBeLessThan(6_000);
  });

  it("the customer resuming while an answer is prepared moves the end and the preparation", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was cold", 2_060);
    const before = s.outlook()!;
    expect(before.prepareAt).toBe(2_270);
    // At 2400 an answer is being prepared for "the coffee was cold"; the customer goes on.
    s.talk(2_400, 2_800);
    const after = s.outlook()!;
    expect(after.voiceAt).toBe(2_820);
    expect(after.endsAt).toBeGreaterThan(2_820 + 500);
    expect(after.prepareAt).toBe(2_820 + 250);
    // Their new words give a new text: an answer prepared for the old one no longer fits.
    s.partial(3_150, 0, "the coffee was cold and bitter", 2_860);
    expect(s.outlook()!.text).not.toBe(before.text);
    expect(s.outlook()!.endsAt).toBe(2_820 + 500);
  });

  it("words far past the last voiced frame mean the voice detector missed quiet speech", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_300, 0, "to do for", 2_040);
    expect(s.outlook()!.voiceAt).toBe(2_020);
    // The speaker went on quietly: the recogniser hears "them" 700 ms after the last voiced frame.
    s.partial(3_050, 0, "to do for them", 2_740);
    expect(s.outlook()).toMatchObject({ voiceAt: 3_050, tail: "complete", endsAt: 3_050 + 500 });
  });

  it("a transcript without any voice detector input still makes a turn (from when the words came)", () => {
    const s = script();
    s.final(5_000, 0, "the coffee was cold", 4_800);
    expect(s.outlook()).toMatchObject({ voiceAt: 5_000, endsAt: 5_500, tail: "complete" });
  });

  it("an empty partial is not a word", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_300, 0, "", 2_040);
    expect(s.outlook()).toBeUndefined();
  });

  it("after the AI took the turn, the previous utterance's late final is not the next turn", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was cold", 2_100);
    s.detector.nextTurn(); // the AI answers at 2520
    s.final(2_900, 0, "the coffee was cold", 2_300);
    expect(s.outlook()).toBeUndefined();
    // The customer's answer is the next turn.
    s.talk(6_000, 7_000);
    s.partial(7_350, 1, "about twenty minutes", 7_060);
    expect(s.outlook()).toMatchObject({
      voiceAt: 7_020,
      endsAt: 7_520,
      text: "the coffee was cold about twenty minutes",
    });
  });

  it("after the AI took the turn, new voice continuing the same utterance is the next turn", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.partial(2_350, 0, "the coffee was cold", 2_100);
    s.detector.nextTurn();
    s.talk(2_600, 3_400); // the recogniser had not closed the utterance: it goes on in segment 0
    s.partial(3_700, 0, "the coffee was cold and bitter", 3_440);
    expect(s.outlook()).toMatchObject({ voiceAt: 3_420, endsAt: 3_920 });
  });

  it("one word alone after a pause that followed a conjunction does not resolve it (a filler heard as a word)", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.final(2_600, 0, "my daughter and", 2_200);
    s.talk(3_000, 3_300); // "uh", which pocketsphinx hears as "add"
    s.final(3_900, 1, "add", 3_500);
    expect(s.outlook()).toMatchObject({ tail: "hesitation", endsAt: 3_320 + 2_000 });
    // More than one word after the pause: the new words decide.
    s.talk(5_000, 6_000);
    s.final(6_500, 2, "she started crying", 6_200);
    expect(s.outlook()).toMatchObject({ tail: "complete", endsAt: 6_520 });
  });

  it("a recogniser running behind: the words before the pause are those of the audio before it, however late they come", () => {
    // Seen under CPU load in the browser test: "The coffee was … um …" with
    // pocketsphinx more than a second behind. When "um" began, the screen
    // still showed "the coffee"; "um" was then heard as a word that ends a
    // thought, and the AI asked in the middle of the sentence.
    const s = script();
    s.talk(0, 800); // "the coffee was"
    s.partial(1_300, 0, "the coffee", 600, 700);
    s.talk(1_800, 2_100); // "um", after a second's pause
    s.partial(2_300, 0, "the coffee was", 900, 1_400);
    s.partial(2_500, 0, "the coffee was them", 2_100, 400);
    // "them" alone after "was" (which wants more): the long silence, not the short one.
    expect(s.outlook()).toMatchObject({ tail: "open", endsAt: 2_120 + 1_200 });
  });

  it("the defaults wait out one-second pauses mid-sentence, as long as the voice detector measures them", () => {
    // turnRecordings' "The coffee was … um … cold": through SpeechActivity the
    // one-second pauses read 1,140 and 1,240 ms from voiced frame to voiced
    // frame, and pocketsphinx hears "um" as "the" (both tails open). At 1.2 s
    // the AI asked before "cold" (the browser test, on a busy CI machine).
    const s = script(DEFAULT_TURN_DETECTION);
    s.talk(0, 780); // "the coffee was"
    s.partial(1_100, 0, "the coffee was", 780);
    const pauseOne = s.outlook()!;
    s.talk(1_920, 2_200); // "um", 1,140 ms after the last voiced frame
    expect(pauseOne.endsAt).toBeGreaterThan(1_920 + ARRIVAL_MS);
    s.partial(2_550, 0, "the coffee was the", 2_200);
    const pauseTwo = s.outlook()!;
    expect(pauseTwo.tail).toBe("open");
    s.talk(3_440, 4_200); // "cold, and", 1,240 ms after "um"
    expect(pauseTwo.endsAt).toBeGreaterThan(3_440 + ARRIVAL_MS);
  });

  it("a dangling end the recogniser heard all of the voice with holds while it rewrites the words, not when it adds to them", () => {
    // The CI run where the AI cut in: "… cold, and" heard as "held and" once
    // the recogniser had all of it, then 700 ms into the pause as "held hands".
    const s = script(DEFAULT_TURN_DETECTION);
    s.talk(0, 780);
    s.partial(1_100, 0, "the coffee was", 780);
    s.talk(1_920, 2_200);
    s.partial(2_550, 0, "the coffee was and", 2_200);
    s.talk(3_440, 4_180); // "cold, and"
    s.partial(3_950, 0, "the coffee was and held", 3_700);
    s.partial(4_520, 0, "the coffee was and held and", 4_200);
    s.partial(4_880, 0, "the coffee was and held hands", 4_200);
    expect(s.outlook()).toMatchObject({ tail: "hesitation", endsAt: 4_200 + 2_000 });
    // The customer goes on: a new silence is judged afresh.
    s.talk(5_240, 7_060); // "nobody at the counter noticed it"
    s.partial(7_400, 0, "the coffee was and held hands nobody at the counter noticed it", 7_080);
    expect(s.outlook()).toMatchObject({ tail: "complete", endsAt: 7_080 + 500 });

    // A recogniser that adds the last word after covering the voice: the new words decide.
    const t = script(DEFAULT_TURN_DETECTION);
    t.talk(0, 1_000);
    t.partial(1_300, 0, "the coffee was", 1_020);
    t.partial(1_400, 0, "the coffee was cold", 1_020);
    expect(t.outlook()).toMatchObject({ tail: "complete", endsAt: 1_020 + 500 });
  });

  it("one word alone after a pause that followed a complete thought is judged by itself", () => {
    const s = script();
    s.talk(1_000, 2_000);
    s.final(2_600, 0, "the coffee was cold", 2_200);
    s.talk(3_000, 3_300);
    s.final(3_900, 1, "definitely", 3_500);
    expect(s.outlook()).toMatchObject({ tail: "complete", endsAt: 3_900 });
    s.talk(5_000, 5_300);
    s.final(5_900, 2, "and", 5_500);
    expect(s.outlook()!.tail).toBe("hesitation");
    s.talk(7_000, 7_300);
    s.final(7_900, 3, "yes", 7_500);
    expect(s.outlook()!.tail).toBe("hesitation"); // "and … yes": still mid-thought
  });
});
