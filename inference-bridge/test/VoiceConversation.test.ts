// A conversation that must end at once (its node stops now: a second SIGTERM,
// or the drain timeout passed): it still ends with a final score of what was
// said, without waiting for the speech worker or a model.
import { create } from "@bufbuild/protobuf";
import { SegmentSchema } from "@parley/proto/asr";
import { EndReason, type LiveEvent } from "@parley/proto/live";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { AsrWorkerPool } from "../src/AsrWorkerPool.ts";
import { BuiltinScorer } from "../src/scoring/BuiltinScorer.ts";
import { BuiltinFollowUpPlanner } from "../src/scoring/FollowUpPlanner.ts";
import type { ScoringEngine } from "../src/scoring/types.ts";
import type { SpeechSynthesizer } from "../src/tts/FliteTts.ts";
import { VoiceConversation } from "../src/VoiceConversation.ts";

/** A conversation whose recogniser results are applied by hand; its scoring engine never answers (Ollama hung). */
function conversation() {
  const events: LiveEvent[] = [];
  const hung: ScoringEngine = { name: "ollama:hung", score: () => new Promise(() => {}) };
  const voice = new VoiceConversation({
    sessionId: "s-now",
    pool: {} as AsrWorkerPool, // no audio flows: the recogniser is never asked for a worker
    logger: pino({ level: "silent" }),
    publish: (event) => events.push(event),
    dialogue: {
      scoring: hung,
      planner: new BuiltinFollowUpPlanner(),
      tts: {} as SpeechSynthesizer,
      voice: () => new Promise(() => {}),
      currency: "SEK",
    },
  });
  /** A recogniser result, as VoiceConversation passes one on. */
  const heard = (segmentId: number, text: string, isFinal: boolean) => {
    const changed = voice.transcript.apply(
      create(SegmentSchema, { segmentId, isFinal, speechFinal: isFinal, text, stability: isFinal ? 1 : 0.9 }),
    );
    if (changed) voice.director?.onTranscript(changed);
  };
  const of = <C extends NonNullable<LiveEvent["kind"]["case"]>>(kind: C) =>
    events.flatMap((e) =>
      e.kind.case === kind ? [e.kind.value as Extract<LiveEvent["kind"], { case: C }>["value"]] : [],
    );
  return { voice, events, heard, of };
}

describe("VoiceConversation.endNow", () => {
  it("takes the open partial as final and ends with the rubric's final score of the whole transcript", () => {
    const t = conversation();
    t.heard(0, "the coffee was cold", true);
    t.heard(1, "and the barista was rude", false);
    t.voice.endNow(EndReason.SHUTDOWN);
    t.voice.close();

    // The partial was published as final under its id (records keep finals only)…
    const promoted = t.of("transcript").filter((s) => s.segmentId === 1 && s.isFinal);
    expect(promoted).toHaveLength(1);
    expect(promoted[0]!.text).toBe("and the barista was rude");
    expect(t.voice.transcript.finalText()).toBe("the coffee was cold and the barista was rude");
    // …and the end carries the built-in rubric's final score of everything said, through that segment.
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.SHUTDOWN);
    const expected = new BuiltinScorer().scoreSync("the coffee was cold and the barista was rude");
    expect(ended[0]!.finalScore).toMatchObject({
      isFinal: true,
      engine: "builtin",
      score: expected.score,
      throughSegmentId: 1,
    });
    expect(ended[0]!.summary.length).toBeGreaterThan(0);
    const kinds = t.events.map((e) => e.kind.case).filter((kind) => kind !== "status"); // the stream's own
    expect(kinds.indexOf("transcript", kinds.lastIndexOf("score"))).toBe(-1); // the promoted final came first
    expect(kinds.at(-1)).toBe("conversationEnded");
  });

  it("takes over the end the conversation was waiting on, with its reason", async () => {
    const t = conversation();
    t.heard(0, "the staff were friendly and the queue was short", true);
    const ending = t.voice.end(EndReason.MAX_TURNS); // the speech worker would now finalise (it never does here)
    t.voice.endNow(EndReason.SHUTDOWN);
    t.voice.close();
    await ending;
    const ended = t.of("conversationEnded");
    expect(ended).toHaveLength(1);
    expect(ended[0]!.reason).toBe(EndReason.MAX_TURNS);
    expect(ended[0]!.finalScore?.isFinal).toBe(true);
  });

  it("publishes nothing when no word was said: the session's end carries no score", () => {
    const t = conversation();
    t.voice.endNow(EndReason.SHUTDOWN);
    t.voice.close();
    expect(t.events.filter((e) => e.kind.case !== "status")).toEqual([]); // the stream says it closed, nothing else
  });

  it("does nothing after close()", () => {
    const t = conversation();
    t.heard(0, "the coffee was cold", true);
    t.voice.close();
    t.voice.endNow(EndReason.SHUTDOWN);
    expect(t.of("conversationEnded")).toEqual([]);
  });
});

describe("a VoiceConversation that ends by itself", () => {
  /** A conversation whose director ends it after 50 ms of silence; `told` collects onEndedItself's reasons. */
  function quiet() {
    const events: LiveEvent[] = [];
    const told: EndReason[] = [];
    const voice = new VoiceConversation({
      sessionId: "s-quiet",
      pool: {} as AsrWorkerPool, // no audio flows: the recogniser is never asked for a worker
      logger: pino({ level: "silent" }),
      publish: (event) => events.push(event),
      onEndedItself: (reason) => told.push(reason),
      dialogue: {
        scoring: new BuiltinScorer(),
        planner: new BuiltinFollowUpPlanner(),
        tts: {} as SpeechSynthesizer,
        voice: () => new Promise(() => {}),
        config: { endSilenceMs: 50 },
        currency: "SEK",
      },
    });
    const ends = () => events.flatMap((e) => (e.kind.case === "conversationEnded" ? [e.kind.value.reason] : []));
    return { voice, told, ends };
  }

  it("tells its session after its end is published, so that the session ends too", async () => {
    const t = quiet();
    await expect.poll(() => t.told, { timeout: 5_000 }).toEqual([EndReason.SILENCE]);
    expect(t.ends()).toEqual([EndReason.SILENCE]);
    t.voice.close();
  });

  it("does not tell a session that ended it first", async () => {
    const t = quiet();
    await t.voice.end(EndReason.CUSTOMER); // the customer hung up before the silence ran out
    await new Promise((resolve) => setTimeout(resolve, 200)); // longer than the silence that would end it
    expect(t.told).toEqual([]);
    expect(t.ends()).toEqual([EndReason.CUSTOMER]);
    t.voice.close();
  });
});
