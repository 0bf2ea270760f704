// Scores one conversation as it is spoken. Finals are scored as soon as they
// can be; partials at most every `partialIntervalMs`, and only on their stable
// words: those two consecutive partials agree on (LocalAgreement-2), appended
// to the final text.
//
// One request at a time, and newer text never cancels it: with a model slower
// than the partial interval, cancelling would mean no partial score ever
// lands while the customer talks, and the work thrown away still loaded the
// model (and, as a cancellation, never counted against it). Newer text waits
// instead, only the newest (latest wins), and is sent when the request in
// flight ends: a final's text before a partial's. A result is published only
// if its text still fits what is shown: a partial-based score must extend the
// text of the last published score and agree with the final text as it now
// stands, so a partial that is later corrected never moves the score.

import { commonPrefix, extendsText, joinText, words } from "./text.ts";
import { type FeedbackScoreResult, isAbort, type LlmPriority, type ScoringEngine } from "./types.ts";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type ScoreBasis = "final" | "partial" | "finish";

export interface ScoreUpdate {
  /** The text that was scored. */
  text: string;
  basis: ScoreBasis;
  /** True only for the conversation's final score (from finish()). */
  isFinal: boolean;
}

export interface IncrementalScorerOptions {
  engine: ScoringEngine;
  /**
   * Every published score. `throughSegmentId` is the highest final segment id
   * the text includes (undefined before the first final), as in
   * FeedbackScore.through_segment_id.
   */
  onScore: (result: FeedbackScoreResult, throughSegmentId: number | undefined, update: ScoreUpdate) => void;
  /** Engine failures other than cancellations (a FallbackScorer rarely has any). */
  onError?: (err: unknown) => void;
  /** Minimum time between two scoring requests caused by partials. */
  partialIntervalMs?: number;
  /** Partials whose ASR stability is below this are ignored (0 keeps all). */
  minPartialStability?: number;
  clock?: Clock;
}

interface InFlight {
  text: string;
  /** The highest final segment the text includes, when it was sent (newer finals may come meanwhile). */
  through: number | undefined;
  basis: ScoreBasis;
  controller: AbortController;
  promise: Promise<FeedbackScoreResult>;
}

export class IncrementalScorer {
  readonly #engine: ScoringEngine;
  readonly #onScore: IncrementalScorerOptions["onScore"];
  readonly #onError: ((err: unknown) => void) | undefined;
  readonly #intervalMs: number;
  readonly #minStability: number;
  readonly #clock: Clock;

  #finalText = "";
  #throughSegmentId: number | undefined;
  #previousPartial: string[] = [];
  /** The final text changed and waits to be scored (for the request in flight to end). */
  #finalPending = false;
  /** Final text + stable partial words, waiting for the rate limit or for the request in flight. */
  #pendingPartial: string | undefined;
  #timer: unknown;
  #inFlight: InFlight | undefined;
  #lastRequestAt = Number.NEGATIVE_INFINITY;
  #lastRequestedText: string | undefined;
  #lastPublished: { text: string; basis: ScoreBasis; result: FeedbackScoreResult } | undefined;
  #state: "open" | "finishing" | "closed" = "open";

  constructor(options: IncrementalScorerOptions) {
    this.#engine = options.engine;
    this.#onScore = options.onScore;
    this.#onError = options.onError;
    this.#intervalMs = options.partialIntervalMs ?? 2_000;
    this.#minStability = options.minPartialStability ?? 0;
    this.#clock = options.clock ?? systemClock;
  }

  /** The text the last published score judged. */
  get lastScoredText(): string | undefined {
    return this.#lastPublished?.text;
  }

  /**
   * A segment became final. `fullFinalText` is the whole final transcript so
   * far (TranscriptAssembler.finalText()), not just this segment.
   */
  onFinal(segmentId: number, fullFinalText: string): void {
    if (this.#state !== "open") return;
    this.#finalText = words(fullFinalText).join(" ");
    this.#throughSegmentId = Math.max(segmentId, this.#throughSegmentId ?? segmentId);
    // The partials seen so far belonged to the segment that just became final.
    this.#previousPartial = [];
    this.#pendingPartial = undefined;
    this.#clearTimer();
    if (!this.#finalText || this.#finalText === this.#lastRequestedText) return;
    this.#finalPending = true;
    this.#next();
  }

  /** The open (not yet final) text after the finals changed. */
  onPartial(text: string, stability: number): void {
    if (this.#state !== "open" || stability < this.#minStability) return;
    const current = words(text);
    const stable = commonPrefix(this.#previousPartial, current);
    this.#previousPartial = current;
    if (stable.length === 0) return;
    const candidate = joinText(this.#finalText, stable.join(" "));
    if (candidate === this.#lastRequestedText || candidate === this.#lastPublished?.text) return;
    this.#pendingPartial = candidate;
    this.#next();
  }

  /**
   * The conversation ended: scores the final text (reusing the last score
   * when it judged exactly that text), publishes it with isFinal, returns it.
   */
  async finish(): Promise<FeedbackScoreResult> {
    if (this.#state !== "open") throw new Error("IncrementalScorer already finished or closed");
    this.#state = "finishing";
    this.#clearTimer();
    this.#pendingPartial = undefined;
    this.#finalPending = false;
    const text = this.#finalText;
    let result: FeedbackScoreResult;
    const inFlight = this.#inFlight;
    if (inFlight?.basis === "final" && inFlight.text === text) {
      result = await inFlight.promise;
    } else if (this.#lastPublished?.basis === "final" && this.#lastPublished.text === text) {
      this.#abortInFlight(); // a partial-based request is moot now
      result = this.#lastPublished.result;
    } else {
      this.#abortInFlight(); // whatever it judged, only the final text counts now
      result = await this.#request(text, "finish").promise;
    }
    // close() may have run while we awaited (TS narrows #state across the await, hence !== "finishing").
    if (this.#state !== "finishing") throw new Error("IncrementalScorer closed before its final score");
    this.#state = "closed";
    this.#lastPublished = { text, basis: "finish", result };
    this.#onScore(result, this.#throughSegmentId, { text, basis: "finish", isFinal: true });
    return result;
  }

  /**
   * The conversation ends at once (its node is stopping): nothing is sent to
   * the engine and nothing waited for. The final score of `text` is the last
   * published one when it judged exactly these words (whichever engine made
   * it), else `scoreNow`'s (the built-in rubric: synchronous). It is
   * published with isFinal and returned; whatever was in flight is cancelled,
   * a finish() waiting for it included (it rejects). Undefined when already
   * finished or closed.
   */
  finishNow(
    text: string,
    throughSegmentId: number | undefined,
    scoreNow: (text: string) => FeedbackScoreResult,
  ): FeedbackScoreResult | undefined {
    if (this.#state === "closed") return undefined;
    this.close();
    const judged = words(text).join(" ");
    const last = this.#lastPublished;
    const result = last?.text === judged ? last.result : scoreNow(judged);
    this.#lastPublished = { text: judged, basis: "finish", result };
    this.#onScore(result, throughSegmentId, { text: judged, basis: "finish", isFinal: true });
    return result;
  }

  /** Cancels everything; nothing is published afterwards. */
  close(): void {
    this.#state = "closed";
    this.#clearTimer();
    this.#pendingPartial = undefined;
    this.#finalPending = false;
    this.#abortInFlight();
  }

  /** Sends what waits, if nothing is in flight: the final text first, else the newest partial when due. */
  #next(): void {
    if (this.#state !== "open" || this.#inFlight) return;
    if (this.#finalPending) {
      this.#finalPending = false;
      this.#start(this.#finalText, "final");
      return;
    }
    if (this.#pendingPartial === undefined || this.#timer !== undefined) return;
    const wait = this.#lastRequestAt + this.#intervalMs - this.#clock.now();
    if (wait > 0) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#next();
      }, wait);
      return;
    }
    const text = this.#pendingPartial;
    this.#pendingPartial = undefined;
    if (!extendsText(text, this.#lastPublished?.text ?? "")) return;
    this.#start(text, "partial");
  }

  #start(text: string, basis: "final" | "partial"): void {
    const request = this.#request(text, basis);
    request.promise.then(
      (result) => {
        if (this.#inFlight !== request) return; // cancelled (close, finish): nobody waits for it
        this.#inFlight = undefined;
        if (this.#state === "open" && this.#fits(text, basis)) {
          this.#lastPublished = { text, basis, result };
          this.#onScore(result, request.through, { text, basis, isFinal: false });
        }
        this.#next();
      },
      (err) => {
        if (this.#inFlight !== request) return;
        this.#inFlight = undefined;
        this.#lastRequestedText = this.#lastPublished?.text; // let the same text be tried again
        if (!isAbort(err)) this.#onError?.(err);
        this.#next();
      },
    );
  }

  /**
   * Whether a score that landed may still be shown. Newer text may have come
   * while it was scored: a final's text must still open the final text; a
   * partial-based one must extend what was shown (the guard against jumps)
   * and agree with the final text, word for word as far as both go.
   */
  #fits(text: string, basis: "final" | "partial"): boolean {
    if (basis === "final") return extendsText(this.#finalText, text);
    const agreesWithFinal = extendsText(text, this.#finalText) || extendsText(this.#finalText, text);
    return agreesWithFinal && extendsText(text, this.#lastPublished?.text ?? "");
  }

  /** Starts a request; the caller made sure none is in flight (or cancelled it). */
  #request(text: string, basis: ScoreBasis): InFlight {
    const controller = new AbortController();
    // Someone waits for a final's score (the wall, the end of the conversation); a partial's is soon superseded.
    const priority: LlmPriority = basis === "partial" ? "routine" : "urgent";
    const promise = this.#engine.score(text, controller.signal, undefined, priority);
    const inFlight: InFlight = { text, through: this.#throughSegmentId, basis, controller, promise };
    this.#inFlight = inFlight;
    this.#lastRequestAt = this.#clock.now();
    this.#lastRequestedText = text;
    return inFlight;
  }

  #abortInFlight(): void {
    const inFlight = this.#inFlight;
    this.#inFlight = undefined;
    inFlight?.controller.abort();
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
