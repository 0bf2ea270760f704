// The bridge's side of one conversation: PCM in, live transcript events out.
// Later stages (scoring, dialogue, persistence) hang off `onTranscript`.
import { create } from "@bufbuild/protobuf";
import { type Segment, SegmentSchema } from "@parley/proto/asr";
import { EndReason, type LiveEvent, LiveEventSchema, StreamState } from "@parley/proto/live";
import type { Logger } from "pino";
import type { AsrWorkerPool } from "./AsrWorkerPool.ts";
import { ConversationDirector, type DialogueConfig, type VoiceOutput } from "./dialogue/ConversationDirector.ts";
import { asrAudioToWorkerLatency, voiceProcessingDuration } from "./metrics.ts";
import { RecognitionStream } from "./RecognitionStream.ts";
import type { RetryPolicy } from "./retry.ts";
import type { SpeechReservation } from "./SpeechReservation.ts";
import type { FollowUpPlanner } from "./scoring/FollowUpPlanner.ts";
import type { ScoringEngine } from "./scoring/types.ts";
import { type RestoredSegment, TranscriptAssembler } from "./TranscriptAssembler.ts";
import type { SpeechSynthesizer } from "./tts/SpeechSynthesizer.ts";

export interface VoiceConversationOptions {
  sessionId: string;
  pool: AsrWorkerPool;
  logger: Logger;
  /** BCP 47 tag of the store's language ("sv-SE"): for the recogniser, the language scoring reads and the AI's voice (absent: English). */
  language?: string;
  retry?: RetryPolicy;
  /** How long the worker may take to finalise the transcript at the end. */
  finishTimeoutMs?: number;
  /** Audio per gRPC message (RecognitionStream.sendChunkMs). */
  sendChunkMs?: number;
  /** What is stored of this conversation, when it resumes after its node restarted. */
  restore?: {
    segments: readonly RestoredSegment[];
    askedQuestions: readonly string[];
  };
  /** Receives every live event of this session (transcript and status). */
  publish: (event: LiveEvent) => void;
  /**
   * The conversation ended by itself (the AI ended it, or speech recognition
   * failed for good) and its end is published (ConversationEnded, after the
   * final score): whoever holds the session ends it now, with `reason`. Not
   * called when someone else ended it first, nor after close().
   */
  onEndedItself?: (reason: EndReason) => void;
  /** The AI's side: scoring, follow-up questions and its voice. Absent: transcript only. */
  dialogue?: {
    scoring: ScoringEngine;
    planner: FollowUpPlanner;
    tts: SpeechSynthesizer;
    voice: () => Promise<VoiceOutput>;
    config?: Partial<DialogueConfig>;
    currency: string;
  };
}

/**
 * Audio with no answer from a worker for this long is lag, not silence: a worker
 * answers silent audio with a commit at least every 5 s (pocketsphinx; Whisper
 * every second), plus its end-of-speech window.
 */
export const UNANSWERED_LAG_MS = 8_000;

export class VoiceConversation {
  readonly transcript: TranscriptAssembler;
  readonly #stream: RecognitionStream;
  readonly #publish: (event: LiveEvent) => void;
  readonly #sessionId: string;
  readonly #finishTimeoutMs: number | undefined;
  readonly #onEndedItself: ((reason: EndReason) => void) | undefined;
  readonly director: ConversationDirector | undefined;
  #frames = 0;
  #recognitionLagMs = 0;
  #ending: Promise<void> | undefined;
  /** The reason of the first end() (the first reason stands, also for endNow()). */
  #endReason: EndReason | undefined;
  #closed = false;

  constructor(options: VoiceConversationOptions) {
    this.#sessionId = options.sessionId;
    this.#finishTimeoutMs = options.finishTimeoutMs;
    this.#publish = options.publish;
    this.#onEndedItself = options.onEndedItself;
    this.transcript = new TranscriptAssembler(options.sessionId);
    if (options.restore) this.transcript.restore(options.restore.segments);
    this.#stream = new RecognitionStream({
      firstSegmentId: this.transcript.lastSegmentId + 1,
      sessionId: options.sessionId,
      pool: options.pool,
      logger: options.logger,
      ...(options.language ? { language: options.language } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.sendChunkMs ? { sendChunkMs: options.sendChunkMs } : {}),
      onSegment: (segment) => this.#onSegment(segment),
      onState: (state, detail) => {
        this.#publish(
          create(LiveEventSchema, {
            kind: { case: "status", value: { sessionId: this.#sessionId, state, detail } },
          }),
        );
        // Nothing will be transcribed any more: the conversation ends with what was said. Not
        // from inside the stream's own failure handling, which is still under way.
        if (state === StreamState.FAILED) setImmediate(() => void this.#endItself(EndReason.SPEECH_LOST));
      },
    });
    if (options.dialogue) {
      const { scoring } = options.dialogue;
      this.director = new ConversationDirector({
        sessionId: options.sessionId,
        logger: options.logger,
        transcript: this.transcript,
        publish: options.publish,
        requestEnd: (reason) => this.#endItself(reason),
        ...options.dialogue,
        ...(options.language ? { language: options.language } : {}),
        // Scored in the store's language: the rubric's word lists, and the grounding of a model's score, follow it.
        scoring: scoring.forLanguage?.(options.language) ?? scoring,
      });
    }
    if (options.restore) this.director?.restore(options.restore.askedQuestions, this.transcript.lastSegmentId);
  }

  get state(): StreamState {
    return this.#stream.state;
  }

  get workerAddress(): string | undefined {
    return this.#stream.workerAddress;
  }

  /**
   * How far recognition is behind, in ms (the admin monitor): capture of the newest
   * audio in the latest transcript result → its arrival here; or, when larger, how
   * long audio has waited with no answer at all from a worker (it is dead, stalled
   * or being reconnected to), once that is longer than a worker takes to answer silence.
   */
  get recognitionLagMs(): number {
    const unanswered = this.#stream.unansweredMs;
    return Math.max(this.#recognitionLagMs, unanswered >= UNANSWERED_LAG_MS ? unanswered : 0);
  }

  /** Whether audio ever flowed, i.e. a recogniser stream was opened. */
  get speechStarted(): boolean {
    return this.#stream.started;
  }

  /** The speech slot this conversation was admitted with; its first audio claims it. */
  holdSpeechCapacity(reservation: SpeechReservation): void {
    this.#stream.hold(reservation);
  }

  /** The media plane's PCM sink. */
  readonly pushPcm = (pcm: Int16Array, offsetSamples: number, arrivedAtMs: number): void => {
    this.#stream.push(pcm, offsetSamples, arrivedAtMs);
    this.director?.onPcm(pcm, offsetSamples);
    // A sample of one frame in ten is plenty for a latency histogram.
    if (++this.#frames % 10 === 0) asrAudioToWorkerLatency.observe((performance.now() - arrivedAtMs) / 1000);
  };

  /**
   * The conversation is over (the customer, the session or the director
   * decided): the worker finalises the transcript, then the final score is
   * computed. The first reason stands; a second call waits for the first.
   */
  end(reason: EndReason = EndReason.CUSTOMER): Promise<void> {
    this.#endReason ??= reason;
    this.#ending ??= this.#end(reason);
    return this.#ending;
  }

  /**
   * The conversation ends at once (the node stops now): no waiting for the
   * worker to finalise, nor for a model. What the recogniser showed as
   * partials stands as final under the same ids (as when the worker does
   * not finish an end in time), and the director publishes the final score
   * of that transcript from the built-in rubric (ConversationDirector.endNow;
   * none without words). Takes over an end() under way, with its reason.
   * close() follows.
   */
  endNow(reason: EndReason): void {
    if (this.#closed) return;
    this.#endReason ??= reason;
    this.director?.windDown();
    for (const open of this.transcript.segments()) {
      if (open.isFinal || !open.text) continue;
      const final = create(SegmentSchema, {
        segmentId: open.segmentId,
        isFinal: true,
        speechFinal: true,
        text: open.text,
        words: open.words.map((w) => ({ text: w.text, startMs: w.startMs, endMs: w.endMs })),
        startMs: open.startMs,
        endMs: open.endMs,
        stability: 1,
      });
      const changed = this.transcript.apply(final);
      // Published and stored like any final; the director's score below judges the whole transcript.
      if (changed) this.#publish(create(LiveEventSchema, { kind: { case: "transcript", value: changed } }));
    }
    this.director?.endNow(this.#endReason);
  }

  /**
   * The conversation's own decision to end (the director's, or speech
   * recognition gone for good): the same end, then the session is told
   * (onEndedItself), so that it ends whether or not the customer's app hangs up.
   */
  #endItself(reason: EndReason): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const first = this.#ending === undefined;
    const ending = this.end(reason);
    // Also when the end failed: the session's own end then publishes ConversationEnded.
    const tell = () => {
      if (!this.#closed) this.#onEndedItself?.(reason);
    };
    if (first) ending.then(tell, tell);
    return ending;
  }

  async #end(reason: EndReason): Promise<void> {
    this.director?.windDown();
    await this.#stream.end(this.#finishTimeoutMs);
    await this.director?.end(reason);
  }

  close(): void {
    this.#closed = true;
    this.director?.close();
    this.#stream.close();
  }

  #onSegment(segment: Segment): void {
    if (segment.capturedAtMs > 0) this.#recognitionLagMs = Math.max(0, performance.now() - segment.capturedAtMs);
    if (segment.isFinal && segment.capturedAtMs > 0) {
      voiceProcessingDuration.observe(Math.max(0, performance.now() - segment.capturedAtMs) / 1000);
    }
    const changed = this.transcript.apply(segment);
    if (!changed) return;
    this.#publish(create(LiveEventSchema, { kind: { case: "transcript", value: changed } }));
    this.director?.onTranscript(changed, this.#recognitionLagMs);
  }
}
