import { create } from "@bufbuild/protobuf";
import { SegmentSchema } from "@parley/proto/asr";
import { AiSpeechState, EndReason, type LiveEvent } from "@parley/proto/live";
import pino from "pino";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ConversationDirector,
  type DialogueConfig,
  type TurnTiming,
  type VoiceOutput,
  type VoiceStream,
} from "../../src/dialogue/ConversationDirector.ts";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import {
  BuiltinFollowUpPlanner,
  type FollowUp,
  type FollowUpInput,
  type FollowUpPlanner,
} from "../../src/scoring/FollowUpPlanner.ts";
import type { ScoringEngine } from "../../src/scoring/types.ts";
import { TranscriptAssembler } from "../../src/TranscriptAssembler.ts";
import type { SpeechSynthesizer } from "../../src/tts/FliteTts.ts";
import { SynthesisError } from "../../src/tts/SynthesisError.ts";
import { metricValue } from "../scoring/fakes.ts";
import { backgroundNoise, mixed } from "./testAudio.ts";

const SESSION = "session-1";
const COMPLETE_SILENCE = 500;
const OPEN_SILENCE = 1_200;
const HESITATION_SILENCE = 2_000;
const END_SILENCE = 30_000;
const LAST_ANSWER_SILENCE = 3_000;
const RATE = 16_000;

/** A 1 kHz tone (RMS ≈ 7000: speech to the VAD). */
function tone(ms: number, amplitude = 10_000): Int16Array {
  const n = (ms * RATE) / 1_000;
  return Int16Array.from({ length: n }, (_, i) => Math.round(amplitude * Math.sin((2 * Math.PI * 1_000 * i) / RATE)));
}
const silence = (ms: number) => new Int16Array((ms * RATE) / 1_000);

/** What the AI's voice was given: pieces written, then end(); finish() = the last frame went out. */
class FakeStream implements VoiceStream {
  readonly ended: Promise<"done" | "interrupted">;
  readonly pieces: Int16Array[] = [];
  stops = 0;
  endedByWriter = false;
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

  write(pcm: Int16Array): void {
    if (!this.#settled && !this.endedByWriter) this.pieces.push(pcm);
  }

  end(): void {
    this.endedByWriter = true;
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
  readonly plays: FakeStream[] = [];
  #current: FakeStream | undefined;

  get speaking(): boolean {
    return this.#current !== undefined;
  }

  stream(onFirstPacket?: () => void): VoiceStream {
    this.#current?.stop();
    const stream: FakeStream = new FakeStream(() => {
      if (this.#current === stream) this.#current = undefined;
    });
    this.#current = stream;
    this.plays.push(stream);
    // The first packet leaves as soon as there is something to send.
    const write = stream.write.bind(stream);
    let first = true;
    stream.write = (pcm) => {
      write(pcm);
      if (first && pcm.length > 0) {
        first = false;
        onFirstPacket?.();
      }
    };
    return stream;
  }

  interrupt(): void {
    this.#current?.stop();
  }

  get last(): FakeStream {
    const play = this.plays.at(-1);
    if (!play) throw new Error("nothing played");
    return play;
  }
}

/** Asks what `ask` returns for the transcript. */
class ScriptedPlanner implements FollowUpPlanner {
  readonly name = "scripted";
  readonly #ask: (transcript: string) => string;

  constructor(ask: (transcript: string) => string) {
    this.#ask = ask;
  }

  async plan(input: FollowUpInput): Promise<FollowUp | undefined> {
    return { text: this.#ask(input.transcript), aimedAt: "specificity" };
  }
}

const TWO_CLAUSES = "Who served you, and what did they do that stood out?";

/** Returns PCM whose length says which text it is; `hold` makes calls wait for release(). */
class FakeTts implements SpeechSynthesizer {
  readonly name = "fake";
  readonly calls: { text: string; signal: AbortSignal | undefined; language: string | undefined }[] = [];
  /** Every PCM returned, in call order. */
  readonly results: Int16Array[] = [];
  hold = false;
  fail = false;
  #waiting: { resolve: () => void; reject: (err: Error) => void }[] = [];

  static pcmFor(text: string): Int16Array {
    return Int16Array.from({ length: 100 * text.length }, (_, i) => (i % 100) * 50);
  }

  synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array> {
    this.calls.push({ text, signal, language });
    if (this.fail) return Promise.reject(new Error("tts broke"));
    const result = () => {
      const pcm = FakeTts.pcmFor(text);
      this.results.push(pcm);
      return pcm;
    };
    if (!this.hold) return Promise.resolve(result());
    return new Promise((resolve, reject) => {
      signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      this.#waiting.push({ resolve: () => resolve(result()), reject });
    });
  }

  /** Lets the waiting calls answer; with `first`, only the oldest. */
  release(first = false): void {
    for (const w of this.#waiting.splice(0, first ? 1 : this.#waiting.length)) w.resolve();
  }

  /** The waiting calls fail. */
  breakWaiting(): void {
    for (const w of this.#waiting.splice(0)) w.reject(new Error("tts broke"));
  }

  /** The waiting calls fail as a synthesiser's deadline fails them. */
  timeOutWaiting(): void {
    for (const w of this.#waiting.splice(0)) w.reject(new SynthesisError("timeout", "no speech within 5000 ms"));
  }
}

function setup(
  config: Partial<DialogueConfig> = {},
  planner: FollowUpPlanner = new BuiltinFollowUpPlanner(),
  scoring: ScoringEngine = new BuiltinScorer(),
  language?: string,
) {
  const transcript = new TranscriptAssembler(SESSION);
  const events: LiveEvent[] = [];
  const voice = new FakeVoice();
  const tts = new FakeTts();
  let voiceCalls = 0;
  /** What ends the conversation when the director decides to (VoiceConversation.end in production). */
  let requestEnd: ((reason: EndReason) => Promise<void>) | undefined;
  const director: ConversationDirector = new ConversationDirector({
    sessionId: SESSION,
    logger: pino({ level: "silent" }),
    transcript,
    scoring,
    planner,
    tts,
    voice: async () => {
      voiceCalls++;
      return voice;
    },
    publish: (event) => events.push(event),
    config: {
      turnSilenceMs: COMPLETE_SILENCE,
      openTurnSilenceMs: OPEN_SILENCE,
      hesitationTurnSilenceMs: HESITATION_SILENCE,
      endSilenceMs: END_SILENCE,
      lastAnswerSilenceMs: LAST_ANSWER_SILENCE,
      maxTurns: 3,
      ...config,
    },
    currency: "SEK",
    language,
    requestEnd: (reason) => (requestEnd ? requestEnd(reason) : director.end(reason)),
  });
  const timings: TurnTiming[] = [];
  director.turnObservers.add((timing) => timings.push(timing));

  let nextId = 0;
  /** Audio sent so far, on the conversation clock (ms). */
  let audioMs = 0;
  /** Applies a worker segment the way VoiceConversation does. */
  const apply = (init: Parameters<typeof create<typeof SegmentSchema>>[1]) => {
    const changed = transcript.apply(create(SegmentSchema, init));
    if (changed) director.onTranscript(changed);
  };
  const customer = {
    /** A growing partial of a new (or the current) segment, covering audio up to `endMs`. */
    partial(text: string, endMs = audioMs, id = nextId) {
      apply({ segmentId: id, isFinal: false, text, stability: 0.9, endMs });
    },
    /** The segment becomes final; speechFinal: the recogniser's endpointer heard a pause. */
    final(text: string, speechFinal = true, id = nextId) {
      apply({ segmentId: id, isFinal: true, speechFinal, text, stability: 1, endMs: audioMs });
      nextId = id + 1;
    },
    /** Transcript only (no audio): partials word by word, then the final. */
    say(text: string, speechFinal = true) {
      const words = text.split(" ");
      for (let i = 1; i <= words.length; i++) this.partial(words.slice(0, i).join(" "));
      this.final(text, speechFinal);
    },
    /** PCM in 20 ms chunks at once (no time passes), as the media plane delivers it. */
    pcm(pcm: Int16Array, chunk = 320) {
      for (let at = 0; at < pcm.length; at += chunk) {
        const part = pcm.subarray(at, at + chunk);
        director.onPcm(part);
        audioMs += part.length / 16;
      }
    },
    /**
     * Real time: the customer speaks `text` for `ms`, 20 ms frames as they come; the
     * recogniser's partials follow 300 ms behind, and the last one covers the voice
     * 300 ms after it stopped (as pocketsphinx does).
     */
    async speak(text: string, ms: number) {
      const words = text.split(" ");
      const frames = ms / 20;
      let shown = 0;
      for (let f = 1; f <= frames; f++) {
        this.pcm(tone(20));
        await advance(20);
        const heard = Math.floor((Math.max(0, f * 20 - 300) / ms) * words.length);
        if (heard > shown) {
          shown = heard;
          this.partial(words.slice(0, heard).join(" "), audioMs - 300);
        }
      }
      await this.quiet(300);
      this.partial(text, audioMs - 300 + 40);
    },
    /** Real time with voice (20 ms loud frames), no words from the recogniser. */
    async talk(ms: number) {
      for (let t = 0; t < ms; t += 20) {
        this.pcm(tone(20));
        await advance(20);
      }
    },
    /** Real time with quiet PCM (the line is open, nobody talks). */
    async quiet(ms: number) {
      for (let t = 0; t < ms; t += 20) {
        this.pcm(silence(20));
        await advance(20);
      }
    },
    /** Words said before `final`'s utterance: the next segment. */
    get nextSegment() {
      return nextId;
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
    timings,
    of,
    kinds: () => events.map((e) => e.kind.case),
    voiceCalls: () => voiceCalls,
    setRequestEnd: (fn: (reason: EndReason) => Promise<void>) => {
      requestEnd = fn;
    },
    /** The audio of everything played, joined. */
    spoken: (stream: FakeStream) => stream.pieces.reduce((n, p) => n + p.length, 0),
  };
}

type Harness = ReturnType<typeof setup>;

/** Runs due timers and lets promise chains settle. */
const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** Customer says something, pauses; the AI asks and starts speaking. */
async function toAiSpeaking(t: Harness, text: string): Promise<void> {
  t.customer.say(text);
  await advance(COMPLETE_SILENCE);
  expect(t.voice.speaking).toBe(true);
}

const COMPLAINT = "the coffee was cold and the barista was rude and I waited twenty minutes at the counter";

describe("ConversationDirector", () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "setImmediate", "Date", "performance"],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("asks a follow-up once the customer finished a complete thought and the short silence passed", async () => {
    const t = setup();
    await t.customer.speak(COMPLAINT, 2_000); // 320 ms since the last voiced frame; the partial caught up
    expect(t.of("aiTurn")).toEqual([]);
    await t.customer.quiet(COMPLETE_SILENCE - 320 - 20);
    expect(t.of("aiTurn")).toEqual([]);
    await t.customer.quiet(20);
    const [turn] = t.of("aiTurn");
    expect(turn).toBeDefined();
    expect(turn!.sessionId).toBe(SESSION);
    expect(turn!.turn).toBe(1);
    expect(turn!.text).toMatch(/\?$/);
    expect(["specificity", "actionability", "relevance", "sentiment"]).toContain(turn!.aimedAt);
    expect(t.director.turn).toBe(1);

    // The question was synthesised (whole, or its first clause and then the rest) and played.
    expect(t.tts.calls.map((c) => c.text).join(" ")).toBe(turn!.text);
    expect(t.voice.plays).toHaveLength(1);
    expect(t.spoken(t.voice.last)).toBe(FakeTts.pcmFor(turn!.text).length - (t.tts.calls.length - 1) * 100);
    expect(t.voice.last.endedByWriter).toBe(true);

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
    t.director.windDown(); // the session is ending: the worker finalises the last utterance
    await t.customer.speak(COMPLAINT, 2_000);
    t.customer.final(COMPLAINT);
    await t.customer.quiet(COMPLETE_SILENCE * 4);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.tts.calls).toEqual([]);
    await t.director.end(EndReason.CUSTOMER);
    expect(t.of("conversationEnded")[0]!.finalScore!.score).toBeGreaterThan(0);
  });

  it("prepares the follow-up while the silence accrues: its audio is ready when the turn ends", async () => {
    const t = setup();
    await t.customer.speak(COMPLAINT, 2_000);
    // 300 ms of silence: the question is already synthesised, not yet asked.
    expect(t.tts.calls.length).toBeGreaterThan(0);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.voice.plays).toEqual([]);
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.tts.calls.map((c) => c.text).join(" ")).toBe(t.of("aiTurn")[0]!.text); // synthesised once
    expect(t.timings).toHaveLength(1);
    const timing = t.timings[0]!;
    expect(timing.prepared).toBe(true);
    expect(timing.responseMs).toBe(0); // fake time: nothing left to wait for
    // The silence counts from the last voiced frame: the turn ended 500 ms after it.
    expect(timing.endOfUtteranceMs).toBeGreaterThanOrEqual(COMPLETE_SILENCE);
    expect(timing.endOfUtteranceMs).toBeLessThanOrEqual(COMPLETE_SILENCE + 20);
    expect(timing.voiceToVoiceMs).toBe(timing.endOfUtteranceMs);
  });

  it("does not interrupt a pause after 'was': the question comes only after the rest of the sentence", async () => {
    const t = setup();
    await t.customer.speak("the coffee was", 700);
    t.customer.final("the coffee was");
    await t.customer.quiet(700); // with speak()'s own 300 ms: a second's pause mid-thought
    expect(t.of("aiTurn")).toEqual([]);
    await t.customer.speak("cold and nobody noticed it", 1_500);
    t.customer.final("cold and nobody noticed it");
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("waits through a pause after a conjunction or filler, and ends the turn after the long silence", async () => {
    const t = setup();
    await t.customer.speak("the coffee was cold and um", 1_500);
    t.customer.final("the coffee was cold and um");
    // The last voiced frame came 320 ms before speak() returned.
    await t.customer.quiet(HESITATION_SILENCE - 320 - 20);
    expect(t.of("aiTurn")).toEqual([]);
    await t.customer.quiet(40);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("throws away the prepared follow-up when the customer goes on during its synthesis", async () => {
    const t = setup();
    t.tts.hold = true;
    await t.customer.speak(COMPLAINT, 2_000);
    expect(t.tts.calls).toHaveLength(1); // synthesis of the prepared question is under way
    const speculative = t.tts.calls[0]!;
    expect(speculative.signal?.aborted).toBe(false);
    await t.customer.speak("and the music was far too loud", 1_200); // the customer goes on
    expect(speculative.signal?.aborted).toBe(true);
    t.tts.release();
    await advance(0);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.voice.plays).toEqual([]);

    // The turn then ends after the new words; the question is prepared anew.
    t.tts.hold = false;
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.voice.plays).toHaveLength(1);
  });

  it("keeps the prepared audio when the final changes the words but not the question", async () => {
    const t = setup();
    await t.customer.speak(COMPLAINT, 2_000);
    const calls = t.tts.calls.length;
    expect(calls).toBeGreaterThan(0);
    t.customer.final(`${COMPLAINT} today`); // the recogniser's final reads one more word
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.tts.calls).toHaveLength(calls); // nothing synthesised again
    expect(t.voice.last.pieces[0]).toBe(t.tts.results[0]); // the prepared audio is what was spoken
  });

  it("prepares again when the final changes the question, and throws the old audio away", async () => {
    const planner = new ScriptedPlanner((transcript) =>
      transcript.endsWith("today") ? "What happened today?" : "What happened?",
    );
    const t = setup({}, planner);
    t.tts.hold = true;
    await t.customer.speak(COMPLAINT, 2_000);
    expect(t.tts.calls.map((c) => c.text)).toEqual(["What happened?"]);
    t.customer.final(`${COMPLAINT} today`);
    await advance(0);
    expect(t.tts.calls.map((c) => c.text)).toEqual(["What happened?", "What happened today?"]);
    t.tts.release();
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn").map((a) => a.text)).toEqual(["What happened today?"]);
    expect(t.tts.calls[0]!.signal?.aborted).toBe(true);
    expect(t.voice.last.pieces[0]).toEqual(FakeTts.pcmFor("What happened today?"));
  });

  it("speaks from the first synthesised piece: the rest is written when it is ready", async () => {
    const t = setup({}, new ScriptedPlanner(() => TWO_CLAUSES));
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn").map((a) => a.text)).toEqual([TWO_CLAUSES]);
    expect(t.tts.calls.map((c) => c.text)).toEqual(["Who served you,"]); // one flite at a time
    t.tts.release(true);
    await advance(0);
    expect(t.voice.plays).toHaveLength(1);
    expect(t.voice.last.pieces).toEqual([FakeTts.pcmFor("Who served you,")]); // speaking already…
    expect(t.tts.calls.map((c) => c.text)).toEqual(["Who served you,", "and what did they do that stood out?"]);
    expect(t.voice.last.endedByWriter).toBe(false); // …while the rest is synthesised
    t.tts.release();
    await advance(0);
    expect(t.voice.last.pieces).toEqual([
      FakeTts.pcmFor("Who served you,"),
      FakeTts.pcmFor("and what did they do that stood out?"),
    ]);
    expect(t.voice.last.endedByWriter).toBe(true);
  });

  it("ends the playback after the first piece when the rest fails to synthesise, and counts the error", async () => {
    const ttsErrors = await metricValue("voice_processing_errors_total", { stage: "tts" });
    const t = setup({}, new ScriptedPlanner(() => TWO_CLAUSES));
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    t.tts.release(true);
    await advance(0);
    expect(t.voice.last.pieces).toHaveLength(1);
    t.tts.breakWaiting(); // the rest fails
    await advance(0);
    expect(t.voice.last.pieces).toHaveLength(1);
    expect(t.voice.last.endedByWriter).toBe(true); // the voice ends after what it has
    expect(await metricValue("voice_processing_errors_total", { stage: "tts" })).toBe(ttsErrors + 1);
    t.voice.last.finish();
    await advance(0);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING, AiSpeechState.DONE]);
    expect(t.director.ended).toBe(false);
  });

  it("does not talk over a customer who started speaking while the question was being prepared", async () => {
    const t = setup();
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1); // the question is on screen…
    t.customer.pcm(tone(200)); // …the customer talks again before it could be spoken
    t.tts.release();
    await advance(0);
    expect(t.voice.plays).toEqual([]);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.INTERRUPTED]);
  });

  // Regression: the pause was inside the voice detector's 300 ms hangover, so
  // the customer's next words brought no new onset, and the AI talked over them.
  it("does not start speaking in a pause between the customer's words shorter than the voice detector's hangover", async () => {
    const t = setup();
    t.tts.hold = true;
    t.customer.pcm(tone(1_000));
    t.customer.say(COMPLAINT);
    await t.customer.quiet(700); // the turn ended; the question is being synthesised
    expect(t.of("aiTurn")).toHaveLength(1);
    await t.customer.talk(200); // a new sentence…
    await t.customer.quiet(240); // …a pause between words, as the audio is ready
    t.tts.release();
    await advance(0);
    await t.customer.talk(1_500);
    expect(t.voice.speaking).toBe(false); // not talking over the customer…
    expect(t.voice.plays).toEqual([]); // …nor starting to
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.INTERRUPTED]);
  });

  it("stops the AI's voice when the customer talks over it while the voice detector still calls them speaking (DTX)", async () => {
    const bargeIns = await metricValue("turn_barge_ins_total");
    const t = setup();
    t.tts.hold = true;
    t.customer.pcm(tone(1_000));
    t.customer.say(COMPLAINT);
    await t.customer.quiet(700);
    await t.customer.talk(200);
    // A pause: a few quiet frames, then DTX sends none, so the detector never hears it end.
    await t.customer.quiet(100);
    await advance(300);
    t.tts.release();
    await advance(0);
    expect(t.voice.speaking).toBe(true); // 400 ms of silence: the AI may speak
    t.customer.pcm(tone(40)); // a click (2 loud frames) is still no barge-in
    await t.customer.quiet(20);
    expect(t.voice.last.stops).toBe(0);
    await t.customer.talk(1_500); // the customer goes on: no new onset, but voice
    expect(t.voice.last.stops).toBe(1);
    expect(t.voice.speaking).toBe(false);
    await advance(0);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING, AiSpeechState.INTERRUPTED]);
    expect(await metricValue("turn_barge_ins_total")).toBe(bargeIns + 1);
  });

  it("judges how the words end by the store's language: waits through a pause after a Swedish 'och'", async () => {
    const t = setup({}, new BuiltinFollowUpPlanner(), new BuiltinScorer(), "sv-SE");
    await t.customer.speak("kaffet var kallt och", 1_500);
    t.customer.final("kaffet var kallt och");
    await t.customer.quiet(HESITATION_SILENCE - 320 - 20);
    expect(t.of("aiTurn")).toEqual([]);
    await t.customer.quiet(40);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("has its questions spoken in the store's language: the synthesiser is given it with every clause", async () => {
    const t = setup({}, new BuiltinFollowUpPlanner(), new BuiltinScorer(), "sv-SE");
    await t.customer.speak("kaffet var kallt och personalen var otrevlig", 1_500);
    t.customer.final("kaffet var kallt och personalen var otrevlig");
    await t.customer.quiet(COMPLETE_SILENCE + 20);
    const [turn] = t.of("aiTurn");
    expect(turn).toBeDefined();
    expect(t.tts.calls.map((c) => c.text).join(" ")).toBe(turn!.text);
    expect(t.tts.calls.map((c) => c.language)).toEqual(t.tts.calls.map(() => "sv-SE"));
    // A store that names no language: the synthesiser is given none (English).
    const english = setup();
    await english.customer.speak(COMPLAINT, 2_000);
    await english.customer.quiet(COMPLETE_SILENCE);
    expect(english.tts.calls.length).toBeGreaterThan(0);
    expect(english.tts.calls.every((c) => c.language === undefined)).toBe(true);
  });

  it("does not end the turn while the customer keeps talking, even on a final the recogniser cut for length", async () => {
    const t = setup();
    for (let i = 0; i < 20; i++) {
      t.customer.pcm(tone(100));
      if (i === 5) t.customer.say(COMPLAINT, false);
      await advance(100);
    }
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.voice.plays).toEqual([]);
  });

  it("ignores an empty partial: the turn still ends", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE / 2);
    t.customer.partial("", 0, t.customer.nextSegment);
    await advance(COMPLETE_SILENCE / 2);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  it("does not cancel the turn end on quiet or short PCM", async () => {
    const t = setup();
    t.customer.say(COMPLAINT);
    await advance(200);
    t.customer.pcm(silence(100));
    t.customer.pcm(tone(40)); // 2 frames: under the 3-frame onset
    await advance(200);
    t.customer.pcm(silence(100));
    await advance(COMPLETE_SILENCE - 400);
    expect(t.of("aiTurn")).toHaveLength(1);
  });

  // Regression: the detector's 300 ms hangover after the customer stops must
  // not hold off a turn end whose final arrives inside it.
  it("ends the turn when the final arrives while the VAD is still in its hangover", async () => {
    const t = setup();
    t.customer.pcm(tone(1_000)); // the customer talks…
    t.customer.pcm(silence(100)); // …and stops
    t.customer.say(COMPLAINT); // the recogniser's final arrives 100 ms later
    // The media plane keeps delivering (quiet) 20 ms chunks.
    await t.customer.quiet(2 * COMPLETE_SILENCE);
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
    t.customer.pcm(tone(400));
    t.customer.say("sorry I meant the latte was lukewarm and it cost fifty kronor");
    await t.customer.quiet(COMPLETE_SILENCE + 20);
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

  // Regression: on a line whose background noise was above the voice
  // detector's absolute floor (−36 dBFS), the noise was voice for ever: the
  // customer's turn never ended, and every question would have been barged in on.
  it.each([-45, -35, -30])(
    "on a line with steady noise at %d dBFS, ends the customer's turn and takes the noise for no barge-in",
    async (dbfs) => {
      const bargeIns = await metricValue("turn_barge_ins_total");
      const t = setup();
      const noise = backgroundNoise(12_000, dbfs, "pink", 3);
      let at = 0;
      /** Real time on the noisy line, the customer talking over it or not. */
      const line = async (ms: number, talking = false) => {
        for (let elapsed = 0; elapsed < ms; elapsed += 20, at += 320) {
          const frame = noise.subarray(at, at + 320);
          t.customer.pcm(talking ? mixed(frame, tone(20), 0) : frame);
          await advance(20);
        }
      };
      await line(3_000); // the line is open before the customer talks
      await line(1_000, true);
      t.customer.say(COMPLAINT);
      await line(700);
      expect(t.of("aiTurn")).toHaveLength(1);
      expect(t.voice.speaking).toBe(true);
      await line(5_000); // the noise goes on while the AI asks
      expect(t.voice.last.stops).toBe(0);
      expect(t.voice.speaking).toBe(true);
      expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING]);
      expect(await metricValue("turn_barge_ins_total")).toBe(bargeIns);
    },
  );

  it("does not take the previous answer's late final for a new turn", async () => {
    const t = setup();
    await t.customer.speak(COMPLAINT, 2_000);
    await t.customer.quiet(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    t.customer.final(COMPLAINT); // pocketsphinx closes the utterance after the AI took the turn
    t.voice.last.finish();
    await t.customer.quiet(3 * HESITATION_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
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
      await advance(COMPLETE_SILENCE);
      if (i < 2) {
        expect(t.of("aiTurn")).toHaveLength(i + 1);
        t.voice.last.finish();
        await advance(0);
      }
    }
    // The answer to the last question ends the conversation only after the longer silence.
    expect(t.director.ended).toBe(false);
    await advance(LAST_ANSWER_SILENCE - COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(2);
    expect(t.voice.plays).toHaveLength(2);
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

  it("ending by itself, lets the recogniser finalise the customer's last answer before the final score", async () => {
    const t = setup({ maxTurns: 1 });
    const LAST = "they should hire one more barista for the morning rush";
    const ends: EndReason[] = [];
    // As VoiceConversation.end does: wind down, the speech stream's end brings the last final, then end().
    t.setRequestEnd(async (reason) => {
      ends.push(reason);
      t.director.windDown();
      t.customer.final(LAST);
      await t.director.end(reason);
    });
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    t.voice.last.finish();
    await advance(0);
    // The answer: when the turn ends the recogniser has shown it only as partials.
    const lastSegment = t.customer.nextSegment;
    const words = LAST.split(" ");
    for (let i = 1; i <= words.length; i++) t.customer.partial(words.slice(0, i).join(" "));
    await advance(4 * HESITATION_SILENCE);
    expect(ends).toEqual([EndReason.MAX_TURNS]);
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.MAX_TURNS);
    // The final score judged the answer's final segment, and says so on the end too.
    const finalScore = t.of("score").find((s) => s.isFinal);
    expect(finalScore?.throughSegmentId).toBe(lastSegment);
    expect(ended[0]!.finalScore?.throughSegmentId).toBe(lastSegment);
  });

  // Regression (a real browser conversation): after the last question the customer said "The lighting
  // was nice.", paused ~1.2 s, then complained; the conversation had ended on the turn's 500 ms
  // silence after the first sentence, and the complaint was neither transcribed nor scored.
  it("hears the answer to the last question out: a pause between two sentences does not end the conversation", async () => {
    const builtin = new BuiltinScorer();
    const scored: string[] = [];
    const recording: ScoringEngine = {
      name: builtin.name,
      score: (text, signal) => {
        scored.push(text);
        return builtin.score(text, signal);
      },
    };
    const t = setup({}, new BuiltinFollowUpPlanner(), recording);
    for (const answer of [COMPLAINT, "it was around nine in the morning", "they should hire one more barista"]) {
      t.customer.say(answer);
      await advance(COMPLETE_SILENCE);
      t.voice.last.finish();
      await advance(0);
    }
    expect(t.of("aiTurn")).toHaveLength(3); // maxTurns questions asked: the next answer is the last

    const PRAISE = "the lighting was nice";
    const PROBLEM = "but the parking lot was full and I had to park on the street";
    await t.customer.speak(PRAISE, 1_200);
    t.customer.final(PRAISE);
    await t.customer.quiet(1_200 - 320); // with speak()'s own tail: 1.2 s from the last voiced frame
    expect(t.director.ended).toBe(false);
    expect(t.of("conversationEnded")).toEqual([]);

    const problemSegment = t.customer.nextSegment;
    await t.customer.speak(PROBLEM, 2_500);
    t.customer.final(PROBLEM);
    // The last voiced frame came 320 ms before speak() returned.
    await t.customer.quiet(LAST_ANSWER_SILENCE - 320 - 40);
    expect(t.director.ended).toBe(false);
    expect(t.of("conversationEnded")).toEqual([]);
    await t.customer.quiet(60);
    expect(t.director.ended).toBe(true);

    const [ended] = t.of("conversationEnded");
    expect(ended?.reason).toBe(EndReason.MAX_TURNS);
    expect(t.of("aiTurn")).toHaveLength(3); // nothing more was asked
    // Both sentences are in the final transcript, and the final score judged them.
    expect(t.transcript.finalText()).toContain(`${PRAISE} ${PROBLEM}`);
    expect(scored.at(-1)).toContain(`${PRAISE} ${PROBLEM}`);
    expect(ended?.finalScore?.throughSegmentId).toBe(problemSegment);
    expect(ended?.finalScore?.score).toBe(builtin.scoreSync(t.transcript.finalText()).score);
  });

  it("ends after the last answer's long silence also when the customer just stops talking", async () => {
    const t = setup({ maxTurns: 0 }); // no questions: the first answer is the last
    await t.customer.speak(COMPLAINT, 2_000);
    await t.customer.quiet(LAST_ANSWER_SILENCE - 320 - 20);
    expect(t.of("aiTurn")).toEqual([]);
    expect(t.director.ended).toBe(false);
    await t.customer.quiet(40);
    expect(t.of("conversationEnded").map((e) => e.reason)).toEqual([EndReason.MAX_TURNS]);
    expect(t.tts.calls).toEqual([]); // nothing was prepared for a question never asked
  });

  it("endNow() ends at once with the rubric's final score of what was said, the open partial included, without the engine", async () => {
    // Ollama hung (its client's deadlines end such calls; the node is stopping now).
    const hung: ScoringEngine = { name: "ollama:hung", score: () => new Promise(() => {}) };
    const t = setup({}, new BuiltinFollowUpPlanner(), hung);
    t.customer.say("the coffee was cold");
    t.customer.partial("and the barista was rude"); // still a partial when the node stops
    t.director.endNow(EndReason.SHUTDOWN);
    expect(t.director.ended).toBe(true);
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.SHUTDOWN);
    const expected = new BuiltinScorer().scoreSync("the coffee was cold and the barista was rude");
    expect(ended[0]!.finalScore).toMatchObject({ isFinal: true, engine: "builtin", score: expected.score });
    expect(ended[0]!.summary).toContain("barista");
    expect(ended[0]!.currency).toBe("SEK");
    expect(t.of("score").filter((s) => s.isFinal)).toHaveLength(1);
    expect(t.kinds().at(-1)).toBe("conversationEnded");
    // Nothing more: a second end, a later end(), timers.
    t.director.endNow(EndReason.SHUTDOWN);
    await t.director.end(EndReason.CUSTOMER);
    await advance(2 * END_SILENCE);
    expect(t.of("conversationEnded")).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("endNow() keeps the last score when it judged exactly what was said", async () => {
    const model: ScoringEngine = {
      name: "ollama:test",
      score: async (text) => ({ ...new BuiltinScorer().scoreSync(text), score: 77, engine: "ollama:test" }),
    };
    const t = setup({}, new BuiltinFollowUpPlanner(), model);
    t.customer.say(COMPLAINT);
    await advance(0);
    expect(t.of("score").at(-1)?.score).toBe(77);
    t.director.endNow(EndReason.SHUTDOWN);
    expect(t.of("conversationEnded")[0]!.finalScore).toMatchObject({ score: 77, engine: "ollama:test", isFinal: true });
  });

  it("endNow() takes over an end() waiting for its final score: one end, with the first reason", async () => {
    const scoringErrors = await metricValue("voice_processing_errors_total", { stage: "scoring" });
    // A model that answers only when cancelled (as Ollama's client does).
    const slow: ScoringEngine = {
      name: "ollama:slow",
      score: (_text, signal) =>
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" }))),
        ),
    };
    const t = setup({}, new BuiltinFollowUpPlanner(), slow);
    t.customer.say(COMPLAINT);
    const ending = t.director.end(EndReason.CUSTOMER);
    await advance(0);
    expect(t.of("conversationEnded")).toEqual([]);
    t.director.endNow(EndReason.SHUTDOWN);
    await ending;
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.CUSTOMER);
    expect(ended[0]!.finalScore?.engine).toBe("builtin");
    expect(await metricValue("voice_processing_errors_total", { stage: "scoring" })).toBe(scoringErrors);
  });

  it("endNow() without a word said ends without a score: nothing is published", async () => {
    const t = setup();
    t.customer.pcm(tone(300)); // voice, but the recogniser heard no words
    t.director.endNow(EndReason.SHUTDOWN);
    expect(t.director.ended).toBe(true);
    expect(t.of("conversationEnded")).toEqual([]);
    expect(t.of("score")).toEqual([]);
    await advance(2 * END_SILENCE);
    expect(t.events).toEqual([]);
  });

  it("asks its first question without waiting for a scoring engine that does not answer", async () => {
    // Ollama hung: no score ever comes back (its own timeouts are what end such calls).
    const hung: ScoringEngine = { name: "ollama:hung", score: () => new Promise(() => {}) };
    const t = setup({}, new BuiltinFollowUpPlanner(), hung);
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.of("score")).toHaveLength(0);
  });

  it("never repeats a question across turns", async () => {
    const t = setup({ maxTurns: 4 });
    for (let i = 0; i < 4; i++) {
      t.customer.say("it was okay I guess");
      await advance(COMPLETE_SILENCE);
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
    // "hello" made a turn: the AI asked, and is still talking; let it finish.
    t.voice.last.finish();
    await advance(END_SILENCE - 1);
    expect(t.of("conversationEnded")).toEqual([]);
    await advance(1);
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

  it("end() while a follow-up is being prepared throws it away", async () => {
    const t = setup();
    t.tts.hold = true;
    await t.customer.speak(COMPLAINT, 2_000);
    expect(t.tts.calls).toHaveLength(1);
    await t.director.end(EndReason.CUSTOMER);
    expect(t.tts.calls[0]!.signal?.aborted).toBe(true);
    await advance(2 * COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toEqual([]);
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
    t.customer.pcm(tone(100)); // the customer keeps talking: no turn end meanwhile
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
    await advance(COMPLETE_SILENCE);
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

  it("counts a failed synthesis of the first clause as a tts error, not a follow-up error", async () => {
    const ttsErrors = await metricValue("voice_processing_errors_total", { stage: "tts", reason: "synthesis_failed" });
    const followUpErrors = await metricValue("voice_processing_errors_total", { stage: "follow_up" });
    const t = setup({}, new ScriptedPlanner(() => TWO_CLAUSES));
    t.tts.fail = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(await metricValue("voice_processing_errors_total", { stage: "tts", reason: "synthesis_failed" })).toBe(
      ttsErrors + 1,
    );
    expect(await metricValue("voice_processing_errors_total", { stage: "follow_up" })).toBe(followUpErrors);
  });

  it("gets its turn back when a synthesis times out: counted as tts, and the next turn is answered", async () => {
    const timeouts = await metricValue("voice_processing_errors_total", { stage: "tts", reason: "synthesis_timeout" });
    const t = setup();
    t.tts.hold = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    t.tts.timeOutWaiting(); // what a stalled flite's deadline does
    await advance(0);
    expect(await metricValue("voice_processing_errors_total", { stage: "tts", reason: "synthesis_timeout" })).toBe(
      timeouts + 1,
    );
    t.tts.hold = false;
    t.customer.say("the music was also far too loud near the window");
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(2);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING]);
  });

  it("keeps the conversation going after a synthesis failure", async () => {
    const t = setup();
    t.tts.fail = true;
    t.customer.say(COMPLAINT);
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(1);
    expect(t.of("aiSpeech")).toEqual([]);
    expect(t.director.ended).toBe(false);

    t.tts.fail = false;
    t.customer.say("the music was also far too loud near the window");
    await advance(COMPLETE_SILENCE);
    expect(t.of("aiTurn")).toHaveLength(2);
    expect(t.of("aiSpeech").map((s) => s.state)).toEqual([AiSpeechState.SPEAKING]);
    expect(t.voiceCalls()).toBe(2);
  });
});
