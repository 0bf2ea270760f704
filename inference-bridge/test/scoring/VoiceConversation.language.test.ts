// The store's language reaches the scoring of a conversation, not only the recogniser.
import { create } from "@bufbuild/protobuf";
import { SegmentSchema } from "@parley/proto/asr";
import type { LiveEvent } from "@parley/proto/live";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { AsrWorkerPool } from "../../src/AsrWorkerPool.ts";
import { BuiltinScorer } from "../../src/scoring/BuiltinScorer.ts";
import { BuiltinFollowUpPlanner } from "../../src/scoring/FollowUpPlanner.ts";
import type { ScoringEngine } from "../../src/scoring/types.ts";
import type { SpeechSynthesizer } from "../../src/tts/FliteTts.ts";
import { VoiceConversation } from "../../src/VoiceConversation.ts";

const COMPLAINT_SV = "kaffet var kallt och personalen var otrevlig, jag väntade i tjugo minuter";

/** Scores one final segment through a conversation in `language`; returns the published score and forLanguage's calls. */
async function scoreThrough(language: string | undefined) {
  const asked: (string | undefined)[] = [];
  const node = new BuiltinScorer();
  const scoring: ScoringEngine = {
    name: node.name,
    score: (text, signal) => node.score(text, signal),
    forLanguage: (tag) => {
      asked.push(tag);
      return node.forLanguage(tag);
    },
  };
  const events: LiveEvent[] = [];
  const conversation = new VoiceConversation({
    sessionId: "s-lang",
    pool: {} as AsrWorkerPool, // no audio flows: the recogniser is never asked for a worker
    logger: pino({ level: "silent" }),
    ...(language === undefined ? {} : { language }),
    publish: (event) => events.push(event),
    dialogue: {
      scoring,
      planner: new BuiltinFollowUpPlanner(),
      tts: {} as SpeechSynthesizer,
      voice: () => new Promise(() => {}),
      currency: "SEK",
    },
  });
  try {
    const changed = conversation.transcript.apply(
      create(SegmentSchema, { segmentId: 0, isFinal: true, speechFinal: false, text: COMPLAINT_SV, stability: 1 }),
    );
    if (changed) conversation.director?.onTranscript(changed);
    for (let i = 0; i < 50 && !events.some((e) => e.kind.case === "score"); i++)
      await new Promise((r) => setTimeout(r));
    const event = events.find((e) => e.kind.case === "score");
    return { score: event?.kind.case === "score" ? event.kind.value : undefined, asked };
  } finally {
    conversation.close();
  }
}

describe("VoiceConversation scoring language", () => {
  it("scores a Swedish store's conversation with the Swedish rubric", async () => {
    const { score, asked } = await scoreThrough("sv-SE");
    expect(asked).toEqual(["sv-SE"]);
    const expected = new BuiltinScorer({ language: "sv-SE" }).scoreSync(COMPLAINT_SV);
    expect(score?.score).toBe(expected.score);
    expect(score?.score).toBeGreaterThanOrEqual(40);
    expect(score?.sentiment).toBeLessThan(-0.5);
  });

  it("scores in English when the store names no language", async () => {
    const { score } = await scoreThrough(undefined);
    expect(score?.score).toBe(new BuiltinScorer().scoreSync(COMPLAINT_SV).score);
  });
});
