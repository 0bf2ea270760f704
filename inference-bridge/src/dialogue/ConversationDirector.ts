// The AI's side of one conversation: scores the customer's words as they
// come, notices when the customer's turn is over (TurnDetector: the voice
// detector's silence, how far the recogniser got, and how the words end),
// prepares the follow-up while that silence accrues (planned and its first
// clause synthesised, thrown away if the customer goes on), speaks it from
// the first synthesised piece on, and stops speaking the moment the customer
// talks again (barge-in). Ends on the customer's request, after maxTurns
// questions, or after a long silence. Ending cannot be taken back: after the
// last question the customer's answer ends the conversation only after a
// longer silence (lastAnswerSilenceMs) than the one that ends a turn, so a
// customer who goes on after a pause between sentences is still heard.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  AiSpeechState,
  ConversationEndedSchema,
  EndReason,
  type LiveEvent,
  LiveEventSchema,
  type TranscriptSegment,
} from "@parley/proto/live";
import type { Logger } from "pino";
import { voiceProcessingErrors } from "../metrics.ts";
import { BuiltinScorer } from "../scoring/BuiltinScorer.ts";
import { toFeedbackScore } from "../scoring/events.ts";
import type { FollowUp, FollowUpPlanner } from "../scoring/FollowUpPlanner.ts";
import { IncrementalScorer } from "../scoring/IncrementalScorer.ts";
import { observeFinalScore } from "../scoring/metrics.ts";
import { abortedError, type FeedbackScoreResult, type ScoringEngine } from "../scoring/types.ts";
import type { TranscriptAssembler } from "../TranscriptAssembler.ts";
import type { SpeechSynthesizer } from "../tts/SpeechSynthesizer.ts";
import { SynthesisError } from "../tts/SynthesisError.ts";
import { aiTurnMetrics } from "./metrics.ts";
import { SpeechActivity } from "./SpeechActivity.ts";
import { SpokenReply } from "./SpokenReply.ts";
import { summarize } from "./summary.ts";
import { DEFAULT_TURN_DETECTION, TurnDetector, type TurnOutlook } from "./TurnDetector.ts";

/** One case of a live event, as the director publishes it. */
type LiveEventKind = NonNullable<MessageInitShape<typeof LiveEventSchema>["kind"]>;

export interface Playback {
  readonly ended: Promise<"done" | "interrupted">;
  stop(): void;
}

/** A playback fed piece by piece (media's AiVoice.stream()). */
export interface VoiceStream extends Playback {
  write(pcm: Int16Array): void;
  /** Nothing more to say: the playback ends "done" after what was written. */
  end(): void;
}

/** Where the AI's voice goes (media's AiVoice). */
export interface VoiceOutput {
  readonly speaking: boolean;
  /** `onFirstPacket` fires when the first RTP packet leaves. */
  stream(onFirstPacket?: () => void): VoiceStream;
  interrupt(): void;
}

export interface DialogueConfig {
  /** Silence that ends the customer's turn after a complete thought. */
  turnSilenceMs: number;
  /** Silence that ends the turn after a word that usually goes on ("the", "to", "was"). */
  openTurnSilenceMs: number;
  /** Silence that ends the turn after a conjunction or a filler ("and", "because", "um"). */
  hesitationTurnSilenceMs: number;
  /** Follow-up questions before the conversation ends by itself. */
  maxTurns: number;
  /**
   * Silence after the customer's answer to the last question (maxTurns
   * asked) that ends the conversation: longer than any turn's silence, as
   * the end cannot be taken back, unlike a question the customer talks over.
   */
  lastAnswerSilenceMs: number;
  /** Silence (no customer speech, AI not speaking) that ends the conversation. */
  endSilenceMs: number;
  /** Minimum time between partial-driven re-scores. */
  partialScoreIntervalMs: number;
}

export const DEFAULT_DIALOGUE: DialogueConfig = {
  turnSilenceMs: DEFAULT_TURN_DETECTION.completeSilenceMs,
  openTurnSilenceMs: DEFAULT_TURN_DETECTION.openSilenceMs,
  hesitationTurnSilenceMs: DEFAULT_TURN_DETECTION.hesitationSilenceMs,
  maxTurns: 3,
  lastAnswerSilenceMs: 3_000,
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
  /**
   * The store's language (BCP 47, e.g. "sv-SE"): how the customer's words end
   * is judged by its rules (turnTail), and the questions are spoken in its
   * voice (the synthesiser is given it). Default "en".
   */
  language?: string;
  /**
   * How the director ends the conversation by itself (max turns, nothing left
   * to ask, silence): VoiceConversation.end, which lets the recogniser
   * finalise the customer's last words before end() scores them. Absent: end().
   */
  requestEnd?: (reason: EndReason) => Promise<void>;
}

/** One AI turn's timings, for observers (benchmarks, traces); milliseconds. */
export interface TurnTiming {
  turn: number;
  /** Customer's last voiced frame → turn end decided. */
  endOfUtteranceMs: number;
  /** Text-to-speech start → the reply's first piece synthesised. */
  ttsFirstByteMs: number;
  /** Turn end decided → first RTP packet of the answer. */
  responseMs: number;
  /** Customer's last voiced frame → first RTP packet of the answer. */
  voiceToVoiceMs: number;
  /** When the first RTP packet left (performance.now()). */
  firstByteAt: number;
  /** The answer's first piece was synthesised before the turn ended (speculatively). */
  prepared: boolean;
}

/** A follow-up in the making for one transcript: planned, then synthesised. */
interface Prepared {
  /** The transcript it answers. */
  text: string;
  controller: AbortController;
  answer: Promise<FollowUp | undefined>;
  /** Set once the question is known. */
  reply?: SpokenReply;
}

const ignore = () => {};
const SAMPLES_PER_MS = 16;

export class ConversationDirector {
  /** Observers see each turn's timings; they never change the conversation. */
  readonly turnObservers = new Set<(timing: TurnTiming) => void>();
  readonly #o: ConversationDirectorOptions;
  readonly #config: DialogueConfig;
  readonly #scorer: IncrementalScorer;
  readonly #activity = new SpeechActivity();
  /** The rubric of the conversation's language, for what is said before the first score arrives. */
  readonly #rubric: BuiltinScorer;
  readonly #detector: TurnDetector;
  readonly #asked: string[] = [];
  #latestScore: FeedbackScoreResult | undefined;
  #turn = 0;
  #turnTimer: NodeJS.Timeout | undefined;
  #silenceTimer: NodeJS.Timeout | undefined;
  #lastVoiceAt = performance.now();
  /** Last partial text or AI speech end: activity that is not customer audio energy. */
  #lastActivityAt = performance.now();
  #playback: Playback | undefined;
  /** Prepared ahead of the turn's end, for the transcript as it stands. */
  #prepared: Prepared | undefined;
  /** A reply of a superseded preparation, kept in case the new one asks the same question. */
  #spare: SpokenReply | undefined;
  /** The follow-up being asked (from the turn's end until its playback ends). */
  #answering: Prepared | undefined;
  #ended: Promise<void> | undefined;
  /** The conversation is ending: finals still count for the score, but no new turn starts. */
  #windingDown = false;
  /** The segment the newest final score judged through (ConversationEnded carries it too). */
  #finalThrough = 0;
  /** Why the conversation ends: the first reason given stands. */
  #endReason: EndReason | undefined;
  /** ConversationEnded went out (from end() or endNow()). */
  #endPublished = false;
  /** close(): nothing is published any more. */
  #closed = false;

  constructor(options: ConversationDirectorOptions) {
    this.#o = options;
    this.#config = { ...DEFAULT_DIALOGUE, ...options.config };
    this.#rubric = new BuiltinScorer({ language: options.language });
    this.#detector = new TurnDetector({
      completeSilenceMs: this.#config.turnSilenceMs,
      openSilenceMs: this.#config.openTurnSilenceMs,
      hesitationSilenceMs: this.#config.hesitationTurnSilenceMs,
      language: options.language ?? DEFAULT_TURN_DETECTION.language,
    });
    this.#scorer = new IncrementalScorer({
      engine: options.scoring.forConversation?.(options.logger) ?? options.scoring,
      partialIntervalMs: this.#config.partialScoreIntervalMs,
      onScore: (result, through, update) => {
        this.#latestScore = result;
        if (update.isFinal) this.#finalThrough = through ?? 0;
        this.#publish({ case: "score", value: this.#scoreMessage(result, through ?? 0, update.isFinal) });
      },
      onError: (err) => {
        voiceProcessingErrors.inc({ stage: "scoring", reason: "partial_score" });
        options.logger.warn({ err }, "scoring failed");
      },
    });
    this.#armSilenceTimer();
  }

  get turn(): number {
    return this.#turn;
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /**
   * Every 16 kHz PCM chunk of the customer (the media plane's sink);
   * `offsetSamples` places it on the conversation clock (default: right after the previous chunk).
   */
  onPcm(pcm: Int16Array, offsetSamples?: number): void {
    if (this.#ended) return;
    const before = this.#activity.samples;
    const voicedBefore = this.#activity.lastVoicedSample;
    const started = this.#activity.push(pcm);
    // Voice, not only its onset: a customer who resumes after a pause shorter
    // than the detector's hangover (or any pause, under DTX) never went
    // silent to it, so talking over the AI brings no new onset.
    if (started || this.#activity.loud) this.#bargeIn();
    const voiced = this.#activity.lastVoicedSample;
    if (voiced === voicedBefore) return;
    // Per voiced frame only timestamps; the turn timer re-checks them when it fires.
    const now = performance.now();
    this.#lastVoiceAt = now;
    this.#detector.voice(now, ((offsetSamples ?? before) + voiced - before) / SAMPLES_PER_MS);
    if (this.#prepared) this.#discardPrepared(); // the customer goes on
    if (!this.#turnTimer) this.#scheduleTurn();
  }

  /**
   * Every transcript change the assembler published; `recogniserLagMs`, how
   * long after its audio arrived the recogniser's result came.
   */
  onTranscript(segment: TranscriptSegment, recogniserLagMs = 0): void {
    if (this.#ended) return;
    const now = performance.now();
    if (segment.isFinal) {
      aiTurnMetrics.transcriptionDelay.observe(Math.max(0, now - this.#lastVoiceAt) / 1000);
      this.#scorer.onFinal(segment.segmentId, this.#o.transcript.finalText());
    } else if (segment.text) {
      this.#lastActivityAt = now;
      this.#scorer.onPartial(this.#openText(), segment.stability);
    }
    this.#detector.heard(segment, this.#o.transcript.text(), now, recogniserLagMs);
    this.#scheduleTurn();
  }

  /**
   * A conversation resumed after its node restarted: the questions already
   * asked (never asked again, and counted against maxTurns) and the score
   * of the transcript restored so far.
   */
  restore(askedQuestions: readonly string[], lastSegmentId: number): void {
    this.#asked.push(...askedQuestions);
    this.#turn = askedQuestions.length;
    if (lastSegmentId >= 0) this.#scorer.onFinal(lastSegmentId, this.#o.transcript.finalText());
  }

  /**
   * The conversation is about to end (the speech stream is being finalised):
   * the AI stops talking and asks nothing more, while the last finals still
   * reach the score. end() follows.
   */
  windDown(): void {
    this.#windingDown = true;
    this.#clearTimers(); // the silence clock too: the end under way has its own reason
    this.#stopAnswering();
    this.#playback?.stop();
  }

  /** Ends the conversation: final score, summary, ConversationEnded. Safe to call twice. */
  end(reason: EndReason): Promise<void> {
    this.#endReason ??= reason;
    this.#ended ??= this.#finish(reason);
    return this.#ended;
  }

  /**
   * The director's own decision to end: through requestEnd, so that the
   * customer's last answer (often still a partial when the turn ends) is
   * final before the final score judges it.
   */
  #endItself(reason: EndReason): Promise<void> {
    return this.#o.requestEnd ? this.#o.requestEnd(reason) : this.end(reason);
  }

  /**
   * Ends the conversation at once (its node stops now): no waiting for the
   * recogniser, no model. The final score judges the transcript as it stands,
   * finals and open partials (VoiceConversation.endNow makes those final
   * first, as an end whose worker does not finish in time does): the newest
   * score when it judged exactly those words, else the built-in rubric's.
   * Without any words the conversation ends without a score (nothing is
   * published here). Also takes over an end() still waiting for its final
   * score, whose reason stands. Synchronous; safe to call twice, a no-op
   * after close().
   */
  endNow(reason: EndReason): void {
    if (this.#closed || this.#endPublished) return;
    this.#endReason ??= reason;
    this.#ended ??= Promise.resolve();
    this.#windingDown = true;
    this.#clearTimers();
    this.#stopAnswering();
    this.#playback?.stop();
    const text = this.#o.transcript.text();
    if (!text.trim()) {
      this.#scorer.close();
      return;
    }
    const through = this.#o.transcript
      .segments()
      .filter((s) => s.isFinal)
      .at(-1)?.segmentId; // segments() come in order of id
    const final = this.#scorer.finishNow(text, through, (words) => this.#rubric.scoreSync(words));
    if (final) this.#publishEnd(this.#endReason, final, text);
  }

  /** Drops everything without a final score (the session vanished). */
  close(): void {
    this.#closed = true;
    this.#ended ??= Promise.resolve();
    this.#clearTimers();
    this.#stopAnswering();
    this.#playback?.stop();
    this.#scorer.close();
  }

  #bargeIn(): void {
    const playback = this.#playback;
    if (!playback) return;
    // Barge-in: the customer talks over the AI, so the AI stops (once: the voice goes on).
    this.#playback = undefined;
    playback.stop();
    aiTurnMetrics.bargeIns.inc();
  }

  /** Acts on the turn's outlook now, and sets the timer for its next step. */
  #scheduleTurn(): void {
    clearTimeout(this.#turnTimer);
    this.#turnTimer = undefined;
    if (this.#ended || this.#windingDown || this.#answering) return; // an answer in progress re-schedules when done
    const outlook = this.#detector.outlook();
    if (!outlook) return;
    const now = performance.now();
    const worthPreparing = this.#turn < this.#config.maxTurns;
    // The last answer ends the conversation, for good: not on a pause between two sentences.
    const endsAt = worthPreparing
      ? outlook.endsAt
      : Math.max(outlook.endsAt, outlook.voiceAt + this.#config.lastAnswerSilenceMs);
    if (now >= endsAt) {
      void this.#takeTurn(outlook);
      return;
    }
    if (worthPreparing && now >= outlook.prepareAt && this.#prepared?.text !== outlook.text)
      this.#prepare(outlook.text);
    const due = !worthPreparing || this.#prepared?.text === outlook.text ? endsAt : outlook.prepareAt;
    this.#turnTimer = setTimeout(() => this.#scheduleTurn(), Math.max(0, due - now));
  }

  /** Starts planning and synthesising a follow-up to `text`, superseding an earlier preparation. */
  #prepare(text: string): Prepared {
    const previous = this.#prepared;
    if (previous) {
      previous.controller.abort();
      if (previous.reply) {
        this.#spare?.abort();
        this.#spare = previous.reply;
      }
    }
    const controller = new AbortController();
    const prepared: Prepared = { text, controller, answer: Promise.resolve(undefined) };
    prepared.answer = this.#plan(prepared);
    prepared.answer.catch(ignore); // the turn's end awaits it; a discarded one is nobody's business
    this.#prepared = prepared;
    return prepared;
  }

  async #plan(prepared: Prepared): Promise<FollowUp | undefined> {
    const { signal } = prepared.controller;
    // Before any score came, the rubric's (instant) aims the question: a model call here, before the
    // planner's own, would double the silence the customer hears when Ollama is slow.
    const score = this.#latestScore ?? this.#rubric.scoreSync(prepared.text);
    const followUp = await this.#o.planner.plan(
      { score, transcript: prepared.text, asked: this.#asked, language: this.#o.language },
      signal,
      this.#o.logger,
    );
    if (signal.aborted) throw abortedError(signal);
    if (!followUp) return undefined;
    if (this.#spare?.text === followUp.text && !this.#spare.aborted) {
      prepared.reply = this.#spare; // the same question: its audio is already being made
      this.#spare = undefined;
    } else {
      prepared.reply = new SpokenReply(this.#o.tts, followUp.text, this.#o.language);
    }
    return followUp;
  }

  /** The customer went on: what was prepared is thrown away. */
  #discardPrepared(): void {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    if (prepared) {
      prepared.controller.abort();
      prepared.reply?.abort();
      aiTurnMetrics.speculations.inc({ outcome: "discarded" });
    }
    this.#spare?.abort();
    this.#spare = undefined;
  }

  #stopAnswering(): void {
    this.#discardPrepared();
    const answering = this.#answering;
    answering?.controller.abort();
    answering?.reply?.abort();
  }

  #armSilenceTimer(delayMs = this.#config.endSilenceMs): void {
    clearTimeout(this.#silenceTimer);
    this.#silenceTimer = setTimeout(() => {
      const quietForMs = performance.now() - Math.max(this.#lastVoiceAt, this.#lastActivityAt);
      if (this.#playback || this.#answering) return this.#armSilenceTimer();
      if (quietForMs < this.#config.endSilenceMs) return this.#armSilenceTimer(this.#config.endSilenceMs - quietForMs);
      void this.#endItself(EndReason.SILENCE);
    }, delayMs);
  }

  #clearTimers(): void {
    clearTimeout(this.#turnTimer);
    this.#turnTimer = undefined;
    clearTimeout(this.#silenceTimer);
  }

  async #takeTurn(outlook: TurnOutlook): Promise<void> {
    const turnEndedAt = performance.now();
    const lastVoiceAt = outlook.voiceAt;
    aiTurnMetrics.endOfUtteranceDelay.observe((turnEndedAt - lastVoiceAt) / 1000);
    // No words in the log: they are the customer's, kept only where retention rules apply.
    this.#o.logger.debug(
      { tail: outlook.tail, silenceMs: Math.round(turnEndedAt - lastVoiceAt), prepared: this.#prepared !== undefined },
      "customer's turn ended",
    );
    this.#detector.nextTurn(); // what the customer says from now on is their next turn
    if (this.#turn >= this.#config.maxTurns) {
      this.#discardPrepared();
      await this.#endItself(EndReason.MAX_TURNS);
      return;
    }
    const wasPrepared = this.#prepared?.text === outlook.text;
    const answering = wasPrepared && this.#prepared ? this.#prepared : this.#prepare(outlook.text);
    if (wasPrepared) aiTurnMetrics.speculations.inc({ outcome: "used" });
    this.#prepared = undefined;
    this.#answering = answering;
    const { signal } = answering.controller;
    try {
      const followUp = await answering.answer;
      this.#spare?.abort(); // a question not asked after all
      this.#spare = undefined;
      const reply = answering.reply;
      if (!followUp || !reply) {
        await this.#endItself(EndReason.NOTHING_LEFT_TO_ASK);
        return;
      }
      const turn = ++this.#turn;
      this.#asked.push(followUp.text);
      this.#publish({
        case: "aiTurn",
        value: { sessionId: this.#o.sessionId, turn, text: followUp.text, aimedAt: followUp.aimedAt },
      });
      const readyAtTurnEnd = reply.firstReadyAt !== undefined && reply.firstReadyAt <= turnEndedAt;
      const [first, voice] = await Promise.all([reply.first, this.#o.voice()]);
      if (signal.aborted) return;
      // The detector still calls the customer speaking: voice within its
      // hangover (a timestamp, since with DTX no frames arrive in silences
      // and its state goes stale). A pause between words is no turn to take.
      if (performance.now() - this.#lastVoiceAt < this.#activity.hangoverMs) {
        // The customer started talking again while the question was being
        // prepared: do not talk over them (the question stays on screen).
        this.#publish({
          case: "aiSpeech",
          value: { sessionId: this.#o.sessionId, turn, state: AiSpeechState.INTERRUPTED },
        });
        return;
      }
      const playback = voice.stream(() => {
        const now = performance.now();
        this.#observeTurn({
          turn,
          endOfUtteranceMs: turnEndedAt - lastVoiceAt,
          ttsFirstByteMs: (reply.firstReadyAt ?? now) - reply.startedAt,
          responseMs: now - turnEndedAt,
          voiceToVoiceMs: now - lastVoiceAt,
          firstByteAt: now,
          prepared: readyAtTurnEnd,
        });
      });
      this.#playback = playback;
      this.#publish({ case: "aiSpeech", value: { sessionId: this.#o.sessionId, turn, state: AiSpeechState.SPEAKING } });
      playback.write(first);
      void this.#speakRest(reply, playback);
      const end = await playback.ended;
      if (this.#playback === playback) this.#playback = undefined;
      if (this.#ended) return; // closed or ended meanwhile: nothing more to say
      this.#publish({
        case: "aiSpeech",
        value: {
          sessionId: this.#o.sessionId,
          turn,
          state: end === "done" ? AiSpeechState.DONE : AiSpeechState.INTERRUPTED,
        },
      });
      this.#lastActivityAt = performance.now();
    } catch (err) {
      if (signal.aborted) return;
      if (err instanceof SynthesisError) {
        this.#synthesisFailed(err, "synthesis of a follow-up failed");
        return;
      }
      voiceProcessingErrors.inc({ stage: "follow_up", reason: "error" });
      this.#o.logger.error({ err }, "follow-up failed");
    } finally {
      answering.reply?.abort(); // whatever was not spoken is not needed
      if (this.#answering === answering) this.#answering = undefined;
      this.#scheduleTurn(); // the customer may have spoken meanwhile
    }
  }

  /** Writes the reply's later pieces as they are synthesised, then ends the playback. */
  async #speakRest(reply: SpokenReply, playback: VoiceStream): Promise<void> {
    try {
      for await (const pcm of reply.rest()) playback.write(pcm);
    } catch (err) {
      if (!reply.aborted) this.#synthesisFailed(err, "synthesis of the rest of a follow-up failed");
    } finally {
      playback.end();
    }
  }

  /** A piece of a reply could not be synthesised, wherever in the reply: stage "tts", whatever the piece. */
  #synthesisFailed(err: unknown, message: string): void {
    const reason = err instanceof SynthesisError ? err.reason : "failed";
    voiceProcessingErrors.inc({ stage: "tts", reason: `synthesis_${reason}` });
    this.#o.logger.warn({ err }, message);
  }

  #observeTurn(timing: TurnTiming): void {
    aiTurnMetrics.ttsTimeToFirstByte.observe(timing.ttsFirstByteMs / 1000);
    aiTurnMetrics.responseLatency.observe(timing.responseMs / 1000);
    aiTurnMetrics.voiceToVoice.observe(timing.voiceToVoiceMs / 1000);
    for (const observer of this.turnObservers) {
      try {
        observer(timing);
      } catch (err) {
        this.#o.logger.error({ err }, "turn observer threw");
      }
    }
  }

  async #finish(reason: EndReason): Promise<void> {
    this.#clearTimers();
    this.#stopAnswering();
    this.#playback?.stop();
    let final: FeedbackScoreResult;
    try {
      final = await this.#scorer.finish();
    } catch (err) {
      if (this.#endPublished || this.#closed) return; // endNow() took over, or the session vanished
      voiceProcessingErrors.inc({ stage: "scoring", reason: "final_score" });
      this.#o.logger.error({ err }, "final score failed");
      this.#scorer.close();
      return;
    }
    this.#publishEnd(reason, final, this.#o.transcript.finalText());
  }

  /** The final score was published: the summary of `text` and ConversationEnded follow. */
  #publishEnd(reason: EndReason, final: FeedbackScoreResult, text: string): void {
    if (this.#endPublished) return;
    this.#endPublished = true;
    observeFinalScore(final);
    const summary = summarize(text, final, this.#o.language);
    this.#o.logger.info({ reason: EndReason[reason], score: final.score, turns: this.#turn }, "conversation ended");
    this.#publish({
      case: "conversationEnded",
      value: create(ConversationEndedSchema, {
        sessionId: this.#o.sessionId,
        finalScore: this.#scoreMessage(final, this.#finalThrough, true),
        summary,
        reason,
        currency: this.#o.currency,
      }),
    });
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

  #publish(kind: LiveEventKind): void {
    this.#o.publish(create(LiveEventSchema, { kind }));
  }
}
