import { create } from "@bufbuild/protobuf";
import { SegmentSchema } from "@parley/proto/asr";
import { AiSpeechState, EndReason, type LiveEvent } from "@parley/proto/live";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ConversationDirector,
  type DialogueConfig,
  type Playback,
  type VoiceOutput,
} from "../../src/dialogue/ConversationDirector.ts";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { BuiltinFollowUpPlanner } from "../../src/scoring/FollowUpPlanner.ts";
import { TranscriptAssembler } from "../../src/TranscriptAssembler.ts";
import type { SpeechSynthesizer } from "../../src/tts/FliteTts.ts";

const SESSION = "session-1";
const TURN_SILENCE = 900;
const END_SILENCE = 30_000;
const RATE = 16_000;

/** A 1 kHz tone (RMS ≈ 7000: speech to the VAD). */
function tone(ms: number, amplitude = 10_000): Int16Array {
  const n = (ms * RATE) / 1_000;
  return Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 1_000 * i) / RATE)));
}
const silence = (ms: number) => new Int16Array((ms * RATE) / 1_000);

class FakePlayback implements Playback {
  readonly ended: Promise<"done" | "interrupted">;
  stops = 0;
  #resolve!: (end: "done" | "interrupted") => void;
  #settled = false;
  readonly #onEnd: () => void;

  constructor(onEnd: () => void) {
    this.#onEnd = onEnd;
    this.ended = new Promise((resolve) => (this.#resolve = resolve));
  }

  get settled(): boolean {
    return this.#settled;
  }

  stop(): void {
    this.stops++;
    this.#end("interrupted");
  }

  /** The last frame went out. */
  finish(): void {
    this.#end("done");
  }

  #end(end: "done" | "interrupted"): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#onEnd();
    this.#resolve(end);
  }
}

class FakeVoice implements VoiceOutput {
  readonly plays: { pcm: Int16Array; playback: FakePlayback }[] = [];
  #current: FakePlayback | undefined;

  get speaking(): boolean {
    return this.#current !== undefined;
  }

  play(pcm: Int16Array, onFirstPacket?: () => void): Playback {
    this.#current?.stop();
    const playback: FakePlayback = new FakePlayback(() => {
      if (this.#current === playback) this.#current = undefined;
    });
    this.#current = playback;
    this.plays.push({ pcm, playback });
    onFirstPacket?.();
    return playback;
  }

  interrupt(): void {
    this.#current?.stop();
  }

  get last(): FakePlayback {
    const play = this.plays.at(-1);
    if (!play) throw new Error("nothing played");
    return play.playback;
  }
}

/** Returns the same PCM for every text; `hold` makes calls wait for release(). */
class FakeTts implements SpeechSynthesizer {
  readonly name = "fake";
  readonly pcm = Int16Array.from({ length: 8_000 }, (_, i) => (i % 100) * 50);
  readonly calls: { text: string; signal: AbortSignal | undefined }[] = [];
  hold = false;
  fail = false;
  #waiting: (() => void)[] = [];

  synthesize(text: string, signal?: AbortSignal): Promise<Int16Array> {
    this.calls.push({ text, signal });
    if (this.fail) return Promise.reject(new Error("tts broke"));
    if (!this.hold) return Promise.resolve(this.pcm);
    return new Promise((resolve) => this.#waiting.push(() => resolve(this.pcm)));
  }

  release(): void {
    for (const w of this.#waiting.splice(0)) w();
  }
}

function setup(config: Partial<DialogueConfig> = {}) {
  const transcript = new TranscriptAssembler(SESSION);
  const events: LiveEvent[] = [];
  const voice = new FakeVoice();
  const tts = new FakeTts();
  let voiceCalls = 0;
  const director = new ConversationDirector({
    sessionId: SESSION,
    logger: pino({ level: "silent" }),
    transcript,
    scoring: new BuiltinScorer(),
    planner: new BuiltinFollowUpPlanner(),
    tts,
    voice: async () => {
      voiceCalls++;
      return voice;
    },
    publish: (event) => events.push(event),
    config: { turnSilenceMs: TURN_SILENCE, endSilenceMs: END_SILENCE, maxTurns: 3, ...config },
    currency: "SEK",
  });

  let nextId = 0;
  /** Applies a worker segment the way VoiceConversation does. */
  const apply = (init: Parameters<typeof create<typeof SegmentSchema>>[1]) => {
    const changed = transcript.apply(create(SegmentSchema, init));
    if (changed) director.onTranscript(changed);
  };
  const customer = {
    /** A growing partial of a new (or the current) segment. */
    partial(text: string, id = nextId) {
      apply({ segmentId: id, isFinal: false, text, stability: 0.9 });
    },
    /** The segment becomes final; speechFinal: the customer paused. */
    final(text: string, speechFinal = true, id = nextId) {
      apply({ segmentId: id, isFinal: true, speechFinal, text, stability: 1 });
      nextId = id + 1;
    },
    /** Partials word by word, then the final. */
    say(text: string, speechFinal = true) {
      const words = text.split(" ");
      for (let i = 1; i <= words.length; i++) this.partial(words.slice(0, i).join(" "));
      this.final(text, speechFinal);
    },
    /** PCM in 20 ms chunks, as the media plane delivers it. */
    pcm(pcm: Int16Array, chunk = 320) {
      for (let at = 0; at < pcm.length; at += chunk) director.onPcm(pcm.subarray(at, at + chunk));
    },
  };

  const of = <C extends NonNullable<LiveEvent["kind"]["case"]>>(kind: C) =>
    events.flatMap((e) =>
      e.kind.case === kind ? [e.kind.value as Extract<LiveEvent["kind"], { case: C }>["value"]] : [],
    );

  return {
    director,
    transcript,
    events,
    voice,
    tts,
    customer,
    of,
    kinds: () => events.map((e) => e.kind.case),
    voiceCalls: () => voiceCalls,
  };
}

type Harness = ReturnType<typeof setup>;

/** Runs due timers and lets promise chains settle. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** Customer says something, pauses; the AI asks and starts speaking. */
async function toAiSpeaking(t: Harness, text: string): Promise<void> {
  t.customer.say(text);
  await advance(TURN_SILENCE);
  expect(t.voice.speaking).toBe(true);
}

const COMPLAINT = "the coffee was cold and the barista was rude and I waited twenty minutes at the counter";

describe("ConversationDirector", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks a follow-up after a final segment with speechFinal plus the turn silence, and speaks it", async () => {
    const t = setup();
    t.customer.pcm(tone(1_500)); // the customer talks…
    t.customer.say(COMPLAINT); // …and the recogniser closes the utterance
    await advance(TURN_SILENCE - 1);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.voice.plays).toEqual([]);

    await advance(1);
    const [turn] = t.of("aiTurn");
    expect(turn).toBeDefined();
    expect(turn!.sessionId).toBe(SESSION);
    expect(turn!.turn).toBe(1);
    expect(turn!.text).toMatch(/\?$/);
    expect(["specificity", "actionability", "relevance", "sentiment"]).toContain(turn!.aimedAt);
    expect(t.director.turn).toBe(1);

    // The question was synthesised and the synthesised PCM played.
    expect(t.tts.calls.map((c) => c.text)).toEqual([turn!.text]);
    expect(t.voice.plays).toHaveLength(1);
    expect(t.voice.plays[0]!.pcm).toBe(t.tts.pcm);

    const kinds = t.kinds();
    expect(kinds.indexOf("aiSpeech")).toBeGreaterThan(kinds.indexOf("aiTurn"));
    expect(t.of("aiSpeech")).toEqual([
      expect.objectContaining({ sessionId: SESSION, turn: 1, state: AiSpeechState.SPEAKING }),
    ]);

    t.voice.last.finish();
    await advance(0);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING, AiSpeechState.DONE]);
    expect(t.director.ended).toBe(false);
  });

  it("asks nothing once winding down, but still scores the last finals", async () => {
    const t = setup();
    t.customer.pcm(tone(1_500));
    t.director.windDown(); // the session is ending: the worker finalises the last utterance
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE * 3);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.tts.calls).toEqual([]);
    await t.director.end(EndReason.CUSTOMER);
    const [ended] = t.of("conversationEnded");
    expect(ended!.finalScore!.score).toBeGreaterThan(0);
  });

  it("does not talk over a customer who started speaking while the question was being prepared", async () => {
    const t = setup();
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1); // the question is on screen…
    t.customer.pcm(tone(200)); // …the customer talks again before it could be spoken
    t.tts.release();
    await advance(0);
    expect(t.voice.plays).toEqual([]);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.INTERRUPTED]);
  });

  it("does not end the turn on a final without speechFinal", async () => {
    const t = setup();
    t.customer.say(COMPLAINT, false);
    await advance(5 * TURN_SILENCE);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.tts.calls).toEqual([]);
  });

  it("cancels the turn end when a new partial with text arrives before the silence elapses", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE / 2);
    t.customer.partial("and also");
    await advance(5 * TURN_SILENCE);
    expect(t.of("aiTurn")).toEqual([]);

    // The continuation's own final ends the turn.
    t.customer.final("and also the music was far too loud");
    await advance(TURN_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("ignores an empty partial: the turn still ends", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE / 2);
    t.customer.partial("");
    await advance(TURN_SILENCE / 2);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("cancels the turn end when the customer's PCM says they are talking again", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE / 2);
    t.customer.pcm(tone(100));
    await advance(5 * TURN_SILENCE);
    expect(t.of("aiTurn")).toEqual([]);
  });

  it("does not cancel the turn end on quiet or short PCM", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE / 3);
    t.customer.pcm(silence(100));
    t.customer.pcm(tone(40)); // 2 frames: under the 3-frame onset
    await advance(TURN_SILENCE / 3);
    t.customer.pcm(silence(100));
    await advance(TURN_SILENCE / 3);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  // Regression: the detector's 300 ms hangover after the customer stops must
  // not cancel a turn end whose final arrives inside it.
  it("ends the turn when the final arrives while the VAD is still in its hangover", async () => {
    const t = setup();
    t.customer.pcm(tone(1_000)); // the customer talks…
    t.customer.pcm(silence(100)); // …and stops
    t.customer.say(COMPLAINT); // the recogniser's final arrives 100 ms later
    // The media plane keeps delivering (quiet) 20 ms chunks.
    for (let ms = 0; ms < 2 * TURN_SILENCE; ms += 20) {
      t.customer.pcm(silence(20));
      await advance(20);
    }
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("stops the AI's voice when the customer talks over it (barge-in) and reports INTERRUPTED", async () => {
    const t = setup();
    await toAiSpeaking(t, COMPLAINT);
    const playback = t.voice.last;

    t.customer.pcm(tone(40)); // 2 loud frames: not yet speech
    expect(playback.stops).toBe(0);
    t.customer.pcm(tone(20)); // the 3rd: speech
    expect(playback.stops).toBe(1);
    await advance(0);

    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING, AiSpeechState.INTERRUPTED]);
    expect(t.of("aiSpeech")[1]!.turn).toBe(1);
    expect(t.voice.speaking).toBe(false);

    // The customer's reply then ends a turn as usual: the AI asks again.
    t.customer.pcm(silence(400));
    t.customer.say("sorry I meant the latte was lukewarm and it cost fifty kronor");
    await advance(TURN_SILENCE);
    expect(t.of("aiTurn").map((a) => a.turn)).toEqual([1, 2]);
  });

  it("does not barge in on quiet PCM while the AI speaks", async () => {
    const t = setup();
    await toAiSpeaking(t, COMPLAINT);
    t.customer.pcm(silence(2_000));
    t.customer.pcm(tone(2_000, 300)); // faint: under the VAD's floor
    expect(t.voice.last.stops).toBe(0);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING]);
  });

  it("ends with max_turns, a final score and a summary after maxTurns questions", async () => {
    const t = setup({ maxTurns: 2 });
    const answers = [
      COMPLAINT,
      "it was around nine in the morning and I ordered a cappuccino and a croissant",
      "they should hire one more barista for the morning rush",
    ];
    for (const [i, answer] of answers.entries()) {
      t.customer.say(answer);
      await advance(TURN_SILENCE);
      if (i < 2) {
        expect(t.of("aiTurn")).toHaveLength(i + 1);
        t.voice.last.finish();
        await advance(0);
      }
    }
    expect(t.of("aiTurn")).toHaveLength(2);
    expect(t.tts.calls).toHaveLength(2);
    expect(t.director.ended).toBe(true);

    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.MAX_TURNS);
    expect(ended[0]!.sessionId).toBe(SESSION);
    expect(ended[0]!.finalScore?.isFinal).toBe(true);
    expect(ended[0]!.finalScore?.score).toBeGreaterThan(0);
    expect(ended[0]!.summary.length).toBeGreaterThan(0);
    expect(ended[0]!.summary).not.toBe("No feedback was given.");
    // The final score was also published as a score event, before the end.
    const finalScores = t.of("score").filter((s) => s.isFinal);
    expect(finalScores).toHaveLength(1);
    expect(t.kinds().at(-1)).toBe("conversationEnded");
    // Nothing after the end.
    const count = t.events.length;
    t.customer.say("one more thing");
    t.customer.pcm(tone(500));
    await advance(2 * END_SILENCE);
    expect(t.events).toHaveLength(count);
  });

  it("never repeats a question across turns", async () => {
    const t = setup({ maxTurns: 4 });
    for (let i = 0; i < 4; i++) {
      t.customer.say("it was okay I guess");
      await advance(TURN_SILENCE);
      t.voice.last.finish();
      await advance(0);
    }
    const asked = t.of("aiTurn").map((a) => a.text);
    expect(asked).toHaveLength(4);
    expect(new Set(asked).size).toBe(4);
    expect(t.of("aiTurn").map((a) => a.turn)).toEqual([1, 2, 3, 4]);
  });

  it("ends with reason silence after endSilenceMs without speech", async () => {
    const t = setup();
    await advance(END_SILENCE - 1);
    expect(t.of("conversationEnded")).toEqual([]);
    await advance(1);
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.SILENCE);
    expect(ended[0]!.finalScore?.isFinal).toBe(true);
    expect(ended[0]!.summary).toBe("No feedback was given.");
    expect(t.director.ended).toBe(true);
  });

  it("restarts the silence clock when the customer talks", async () => {
    const t = setup();
    await advance(END_SILENCE - 1_000);
    t.customer.pcm(tone(200));
    await advance(END_SILENCE - 1_000);
    expect(t.of("conversationEnded")).toEqual([]);
    t.customer.partial("hello");
    await advance(END_SILENCE - 1_000);
    expect(t.of("conversationEnded")).toEqual([]);
    await advance(1_000);
    expect(t.of("conversationEnded").map((e) => e.reason)).toEqual([EndReason.SILENCE]);
  });

  it("does not end for silence while the AI is still speaking", async () => {
    const t = setup();
    await toAiSpeaking(t, COMPLAINT);
    await advance(3 * END_SILENCE);
    expect(t.of("conversationEnded")).toEqual([]);
    t.voice.last.finish();
    await advance(END_SILENCE);
    expect(t.of("conversationEnded").map((e) => e.reason)).toEqual([EndReason.SILENCE]);
  });

  it("publishes one conversationEnded when end() is called twice", async () => {
    const t = setup();
    t.customer.say(COMPLAINT, false);
    const first = t.director.end(EndReason.CUSTOMER);
    const second = t.director.end(EndReason.CUSTOMER);
    expect(second).toBe(first);
    await Promise.all([first, second]);
    await advance(2 * END_SILENCE);
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.CUSTOMER);
    expect(ended[0]!.summary).toContain("coffee");
    expect(ended[0]!.currency).toBe("SEK");
  });

  it("end() while the AI speaks stops the voice, reports INTERRUPTED, then ends, and leaves no timer behind", async () => {
    const t = setup();
    await toAiSpeaking(t, COMPLAINT);
    await t.director.end(EndReason.CUSTOMER);
    await advance(0);
    expect(t.voice.last.stops).toBe(1);
    expect(t.of("conversationEnded")).toHaveLength(1);
    expect(t.kinds().at(-1)).toBe("conversationEnded");
    expect(vi.getTimerCount()).toBe(0);
  });

  // Regression: a playback stopped by close() must not publish anything after it.
  it("close() while the AI speaks publishes nothing afterwards", async () => {
    const t = setup();
    await toAiSpeaking(t, COMPLAINT);
    const count = t.events.length;
    t.director.close();
    await advance(2 * END_SILENCE);
    expect(t.events.slice(count)).toEqual([]);
  });

  it("publishes score events with parts in range as finals arrive", async () => {
    const t = setup();
    const finals = [
      "the coffee was cold",
      "and the barista was rude to my daughter",
      "I waited twenty minutes for one sandwich which cost ninety kronor",
      "I love this place though and the staff are usually great",
    ];
    for (const [i, text] of finals.entries()) {
      t.customer.final(text, false);
      await advance(0);
      const scores = t.of("score");
      expect(scores).toHaveLength(i + 1);
      const s = scores.at(-1)!;
      expect(s.sessionId).toBe(SESSION);
      expect(s.isFinal).toBe(false);
      expect(s.throughSegmentId).toBe(i);
      expect(s.engine).toBe("builtin");
      expect(Number.isInteger(s.score)).toBe(true);
      expect(s.score).toBeGreaterThanOrEqual(0);
      expect(s.score).toBeLessThanOrEqual(100);
      for (const part of [s.specificity, s.actionability, s.relevance]) {
        expect(part).toBeGreaterThanOrEqual(0);
        expect(part).toBeLessThanOrEqual(1);
      }
      expect(s.sentiment).toBeGreaterThanOrEqual(-1);
      expect(s.sentiment).toBeLessThanOrEqual(1);
    }
    const scores = t.of("score");
    // More detail, better feedback.
    expect(scores.at(-1)!.score).toBeGreaterThan(scores[0]!.score);
    expect(scores[0]!.sentiment).toBeLessThan(0);
    expect(scores.flatMap((s) => s.topics)).toContain("waiting_time");
  });

  it("publishes a partial-based score from stable partial words, at most every partialScoreIntervalMs", async () => {
    const t = setup({ partialScoreIntervalMs: 2_000 });
    t.customer.partial("the coffee");
    t.customer.partial("the coffee was cold");
    await advance(0);
    expect(t.of("score")).toHaveLength(1);
    t.customer.partial("the coffee was cold and the barista");
    t.customer.partial("the coffee was cold and the barista was rude");
    await advance(0);
    expect(t.of("score")).toHaveLength(1); // rate-limited
    await advance(2_000);
    expect(t.of("score")).toHaveLength(2);
    expect(t.of("score").every((s) => !s.isFinal)).toBe(true);
  });

  it("close() stops the voice, cancels synthesis and publishes nothing afterwards", async () => {
    const t = setup();
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE);
    expect(t.tts.calls).toHaveLength(1);
    const count = t.events.length;

    t.director.close();
    expect(t.tts.calls[0]!.signal?.aborted).toBe(true);
    t.tts.release(); // a synthesiser that answers anyway
    t.customer.say("more words after the close");
    t.customer.pcm(tone(500));
    await t.director.end(EndReason.CUSTOMER);
    await advance(2 * END_SILENCE);

    expect(t.voice.plays).toEqual([]);
    expect(t.events.slice(count)).toEqual([]);
    expect(t.director.ended).toBe(true);
  });

  it("close() when idle: no silence end, nothing published", async () => {
    const t = setup();
    t.customer.final("hello there", false);
    await advance(0);
    const count = t.events.length;
    t.director.close();
    await advance(2 * END_SILENCE);
    expect(t.events).toHaveLength(count);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("keeps the conversation going after a synthesis failure", async () => {
    const t = setup();
    t.tts.fail = true;
    t.customer.say(COMPLAINT);
    await advance(TURN_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.of("aiSpeech")).toEqual([]);
    expect(t.director.ended).toBe(false);

    t.tts.fail = false;
    t.customer.say("the music was also far too loud near the window");
    await advance(TURN_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(2);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING]);
    expect(t.voiceCalls()).toBe(2);
  });
});
