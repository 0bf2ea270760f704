// The AI's side of one conversation: scores the customer's words as they
// come, notices when the customer's turn is over (a final segment plus a
// silence), asks one follow-up aimed at the weakest score part, speaks it, and
// stops speaking the moment the customer talks again (barge-in). Ends on the
// customer's request, after maxTurns questions, or after a long silence.
import { create } from "@bufbuild/protobuf";
import {
  AiSpeechState,
  ConversationEndedSchema,
  EndReason,
  type LiveEvent,
  LiveEventSchema,
  type TranscriptSegment,
} from "@parley/proto/live";
import type { Logger } from "pino";
import { toFeedbackScore } from "../scoring/events.ts";
import type { FollowUpPlanner } from "../scoring/FollowUpPlanner.ts";
import { IncrementalScorer } from "../scoring/IncrementalScorer.ts";
import { observeFinalScore } from "../scoring/metrics.ts";
import type { FeedbackScoreResult, ScoringEngine } from "../scoring/types.ts";
import type { TranscriptAssembler } from "../TranscriptAssembler.ts";
import type { SpeechSynthesizer } from "../tts/FliteTts.ts";
import { aiTurnMetrics } from "./metrics.ts";
import { SpeechActivity } from "./SpeechActivity.ts";
import { summarize } from "./summary.ts";

export interface Playback {
  readonly ended: Promise<"done" | "interrupted">;
  stop(): void;
}

/** Where the AI's voice goes (media's AiVoice). */
export interface VoiceOutput {
  readonly speaking: boolean;
  play(pcm: Int16Array, onFirstPacket?: () => void): Playback;
  interrupt(): void;
}

export interface DialogueConfig {
  /** Silence after a final segment that ends the customer's turn. */
  turnSilenceMs: number;
  /** Follow-up questions before the conversation ends by itself. */
  maxTurns: number;
  /** Silence (no customer speech, AI not speaking) that ends the conversation. */
  endSilenceMs: number;
  /** Minimum time between partial-driven re-scores. */
  partialScoreIntervalMs: number;
}

export const DEFAULT_DIALOGUE: DialogueConfig = {
  turnSilenceMs: 900,
  maxTurns: 3,
  endSilenceMs: 30_000,
  partialScoreIntervalMs: 2_000,
};

export interface ConversationDirectorOptions {
  sessionId: string;
  logger: Logger;
  transcript: TranscriptAssembler;
  scoring: ScoringEngine;
  planner: FollowUpPlanner;
  tts: SpeechSynthesizer;
  voice: () => Promise<VoiceOutput>;
  publish: (event: LiveEvent) => void;
  config?: Partial<DialogueConfig>;
  /** ISO 4217 code of the store's rewards, carried on ConversationEnded. */
  currency: string;
}

/** One AI turn's timings, for observers (benchmarks, traces); milliseconds. */
export interface TurnTiming {
  turn: number;
  /** Customer's last voiced frame → turn end decided. */
  endOfUtteranceMs: number;
  /** Text-to-speech start → first RTP packet of the answer. */
  ttsFirstByteMs: number;
  /** Turn end decided → first RTP packet of the answer. */
  responseMs: number;
}

export class ConversationDirector {
  /** Observers see each turn's timings; they never change the conversation. */
  readonly turnObservers = new Set<(timing: TurnTiming) => void>();
  readonly #o: ConversationDirectorOptions;
  readonly #config: DialogueConfig;
  readonly #scorer: IncrementalScorer;
  readonly #activity = new SpeechActivity();
  readonly #asked: string[] = [];
  #latestScore: FeedbackScoreResult | undefined;
  #turn = 0;
  #turnTimer: NodeJS.Timeout | undefined;
  #silenceTimer: NodeJS.Timeout | undefined;
  #lastVoiceAt = performance.now();
  /** Last partial text or AI speech end: activity that is not customer audio energy. */
  #lastActivityAt = performance.now();
  #playback: Playback | undefined;
  #asking: AbortController | undefined;
  #ended: Promise<void> | undefined;
  /** The conversation is ending: finals still count for the score, but no new turn starts. */
  #windingDown = false;

  constructor(options: ConversationDirectorOptions) {
    this.#o = options;
    this.#config = { ...DEFAULT_DIALOGUE, ...options.config };
    this.#scorer = new IncrementalScorer({
      engine: options.scoring,
      partialIntervalMs: this.#config.partialScoreIntervalMs,
      onScore: (result, through, update) => {
        this.#latestScore = result;
        this.#publish("score", this.#scoreMessage(result, through ?? 0, update.isFinal));
      },
      onError: (err) => options.logger.warn({ err }, "scoring failed"),
    });
    this.#armSilenceTimer();
  }

  get turn(): number {
    return this.#turn;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** Every 16 kHz PCM chunk of the customer (the media plane's sink). */
  onPcm(pcm: Int16Array): void {
    if (this.#ended) return;
    if (this.#activity.push(pcm)) this.#onSpeechStart();
    if (this.#activity.loud) {
      // Per frame only a timestamp: the silence timer re-checks it when it fires.
      // Only voice itself (not the detector's hangover) keeps the turn open.
      this.#lastVoiceAt = performance.now();
      if (this.#turnTimer) this.#cancelTurnTimer();
    }
  }

  /** Every transcript change the assembler published. */
  onTranscript(segment: TranscriptSegment): void {
    if (this.#ended) return;
    if (segment.isFinal) {
      aiTurnMetrics.transcriptionDelay.observe(Math.max(0, performance.now() - this.#lastVoiceAt) / 1000);
      this.#scorer.onFinal(segment.segmentId, this.#o.transcript.finalText());
      // The turn ends once the recogniser closed the utterance AND the line has
      // been quiet for turnSilenceMs; the quiet time before the final counts.
      if (segment.speechFinal && !this.#windingDown)
        this.#armTurnTimer(this.#config.turnSilenceMs - (performance.now() - this.#lastVoiceAt));
    } else if (segment.text) {
      this.#cancelTurnTimer();
      this.#lastActivityAt = performance.now();
      this.#scorer.onPartial(this.#openText(), segment.stability);
    }
  }

  /**
   * The conversation is about to end (the speech stream is being finalised):
   * the AI stops talking and asks nothing more, while the last finals still
   * reach the score. end() follows.
   */
  windDown(): void {
    this.#windingDown = true;
    this.#cancelTurnTimer();
    this.#asking?.abort();
    this.#playback?.stop();
  }

  /** Ends the conversation: final score, summary, ConversationEnded. Safe to call twice. */
  end(reason: EndReason): Promise<void> {
    this.#ended ??= this.#finish(reason);
    return this.#ended;
  }

  /** Drops everything without a final score (the session vanished). */
  close(): void {
    this.#ended ??= Promise.resolve();
    this.#clearTimers();
    this.#asking?.abort();
    this.#playback?.stop();
    this.#scorer.close();
  }

  #onSpeechStart(): void {
    if (!this.#playback) return;
    // Barge-in: the customer talks over the AI, so the AI stops.
    this.#playback.stop();
    aiTurnMetrics.bargeIns.inc();
  }

  #armTurnTimer(delayMs: number): void {
    this.#cancelTurnTimer();
    this.#turnTimer = setTimeout(() => void this.#onTurnEnd(), Math.max(0, delayMs));
  }

  #cancelTurnTimer(): void {
    clearTimeout(this.#turnTimer);
    this.#turnTimer = undefined;
  }

  #armSilenceTimer(delayMs = this.#config.endSilenceMs): void {
    clearTimeout(this.#silenceTimer);
    this.#silenceTimer = setTimeout(() => {
      const quietForMs = performance.now() - Math.max(this.#lastVoiceAt, this.#lastActivityAt);
      if (this.#playback || this.#asking) return this.#armSilenceTimer();
      if (quietForMs < this.#config.endSilenceMs) return this.#armSilenceTimer(this.#config.endSilenceMs - quietForMs);
      void this.end(EndReason.SILENCE);
    }, delayMs);
  }

  #clearTimers(): void {
    this.#cancelTurnTimer();
    clearTimeout(this.#silenceTimer);
  }

  async #onTurnEnd(): Promise<void> {
    this.#turnTimer = undefined;
    if (this.#ended || this.#windingDown || this.#asking || this.#playback) return;
    const turnEndedAt = performance.now();
    const lastVoiceAt = this.#lastVoiceAt;
    aiTurnMetrics.endOfUtteranceDelay.observe((turnEndedAt - lastVoiceAt) / 1000);
    if (this.#turn >= this.#config.maxTurns) {
      await this.end(EndReason.MAX_TURNS);
      return;
    }
    const controller = new AbortController();
    this.#asking = controller;
    try {
      const score =
        this.#latestScore ?? (await this.#o.scoring.score(this.#o.transcript.finalText(), controller.signal));
      const followUp = await this.#o.planner.plan(
        { score, transcript: this.#o.transcript.finalText(), asked: this.#asked },
        controller.signal,
      );
      if (!followUp || controller.signal.aborted) {
        if (!followUp) await this.end(EndReason.NOTHING_LEFT_TO_ASK);
        return;
      }
      const turn = ++this.#turn;
      this.#asked.push(followUp.text);
      this.#publish("aiTurn", { sessionId: this.#o.sessionId, turn, text: followUp.text, aimedAt: followUp.aimedAt });
      const ttsStartedAt = performance.now();
      const [pcm, voice] = await Promise.all([
        this.#o.tts.synthesize(followUp.text, controller.signal),
        this.#o.voice(),
      ]);
      if (controller.signal.aborted) return;
      // Voice within the last 200 ms (a timestamp, since with DTX no frames arrive in silences).
      if (performance.now() - this.#lastVoiceAt < 200) {
        // The customer started talking again while the question was being
        // prepared: do not talk over them (the question stays on screen).
        this.#publish("aiSpeech", { sessionId: this.#o.sessionId, turn, state: AiSpeechState.INTERRUPTED });
        return;
      }
      const playback = voice.play(pcm, () => {
        const now = performance.now();
        const timing: TurnTiming = {
          turn,
          endOfUtteranceMs: turnEndedAt - lastVoiceAt,
          ttsFirstByteMs: now - ttsStartedAt,
          responseMs: now - turnEndedAt,
        };
        aiTurnMetrics.ttsTimeToFirstByte.observe(timing.ttsFirstByteMs / 1000);
        aiTurnMetrics.responseLatency.observe(timing.responseMs / 1000);
        for (const observer of this.turnObservers) {
          try {
            observer(timing);
          } catch (err) {
            this.#o.logger.error({ err }, "turn observer threw");
          }
        }
      });
      this.#playback = playback;
      this.#publish("aiSpeech", { sessionId: this.#o.sessionId, turn, state: AiSpeechState.SPEAKING });
      const end = await playback.ended;
      if (this.#playback === playback) this.#playback = undefined;
      if (this.#ended) return; // closed or ended meanwhile: nothing more to say
      this.#publish("aiSpeech", {
        sessionId: this.#o.sessionId,
        turn,
        state: end === "done" ? AiSpeechState.DONE : AiSpeechState.INTERRUPTED,
      });
      this.#lastActivityAt = performance.now();
    } catch (err) {
      if (!controller.signal.aborted) this.#o.logger.error({ err }, "follow-up failed");
    } finally {
      if (this.#asking === controller) this.#asking = undefined;
    }
  }

  async #finish(reason: EndReason): Promise<void> {
    this.#clearTimers();
    this.#asking?.abort();
    this.#playback?.stop();
    let final: FeedbackScoreResult;
    try {
      final = await this.#scorer.finish();
    } catch (err) {
      this.#o.logger.error({ err }, "final score failed");
      this.#scorer.close();
      return;
    }
    observeFinalScore(final);
    const summary = summarize(this.#o.transcript.finalText(), final);
    this.#o.logger.info({ reason: EndReason[reason], score: final.score, turns: this.#turn }, "conversation ended");
    this.#publish(
      "conversationEnded",
      create(ConversationEndedSchema, {
        sessionId: this.#o.sessionId,
        finalScore: this.#scoreMessage(final, 0, true),
        summary,
        reason,
        currency: this.#o.currency,
      }),
    );
  }

  /** Finals plus the open partials, as on screen. */
  #openText(): string {
    return this.#o.transcript
      .segments()
      .filter((s) => !s.isFinal && s.text)
      .map((s) => s.text)
      .join(" ");
  }

  #scoreMessage(result: FeedbackScoreResult, throughSegmentId: number, isFinal: boolean) {
    return toFeedbackScore(this.#o.sessionId, result, { throughSegmentId, isFinal });
  }

  #publish<C extends NonNullable<LiveEvent["kind"]["case"]>>(kind: C, value: unknown): void {
    this.#o.publish(create(LiveEventSchema, { kind: { case: kind, value } as never }));
  }
}
