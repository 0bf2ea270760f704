// Scores one conversation as it is spoken. Finals are scored at once; partials
// at most every `partialIntervalMs`, and only on their stable words: those two
// consecutive partials agree on (LocalAgreement-2), appended to the final text.
// A request made stale by newer text is aborted, and a partial-based score is
// published only if its text extends the text of the last published score, so
// a partial that is later corrected never moves the score.

import { commonPrefix, extendsText, joinText, words } from "./text.ts";
import { abortedError, type FeedbackScoreResult, isAbort, type ScoringEngine } from "./types.ts";

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
  id: number;
  text: string;
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
  /** Final text + stable partial words, waiting for the rate limit or for a final's score. */
  #pendingPartial: string | undefined;
  #timer: unknown;
  #inFlight: InFlight | undefined;
  #seq = 0;
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
    this.#start(this.#finalText, "final");
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
    this.#schedulePartial();
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
    const text = this.#finalText;
    let result: FeedbackScoreResult;
    const inFlight = this.#inFlight;
    if (inFlight?.basis === "final" && inFlight.text === text) {
      result = await inFlight.promise;
    } else if (this.#lastPublished?.basis === "final" && this.#lastPublished.text === text) {
      this.#abortInFlight(); // a partial-based request is moot now
      result = this.#lastPublished.result;
    } else {
      result = await this.#request(text, "finish").promise;
    }
    // close() may have run while we awaited (TS narrows #state across the await, hence !== "finishing").
    if (this.#state !== "finishing") throw new Error("IncrementalScorer closed before its final score");
    this.#state = "closed";
    this.#lastPublished = { text, basis: "finish", result };
    this.#onScore(result, this.#throughSegmentId, { text, basis: "finish", isFinal: true });
    return result;
  }

  /** Cancels everything; nothing is published afterwards. */
  close(): void {
    this.#state = "closed";
    this.#clearTimer();
    this.#pendingPartial = undefined;
    this.#abortInFlight();
  }

  #schedulePartial(): void {
    if (this.#pendingPartial === undefined || this.#timer !== undefined || this.#state !== "open") return;
    // A final's score is authoritative: let it land rather than starve it with partials.
    if (this.#inFlight?.basis === "final") return;
    const wait = this.#lastRequestAt + this.#intervalMs - this.#clock.now();
    if (wait > 0) {
      this.#timer = this.#clock.setTimeout(() => {
        this.#timer = undefined;
        this.#schedulePartial();
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
        if (this.#inFlight?.id !== request.id) return; // superseded: stale
        this.#inFlight = undefined;
        if (this.#state === "open") {
          // The guard against jumps: a partial-based score must extend what was shown.
          if (basis === "final" || extendsText(text, this.#lastPublished?.text ?? "")) {
            this.#lastPublished = { text, basis, result };
            this.#onScore(result, this.#throughSegmentId, { text, basis, isFinal: false });
          }
        }
        this.#schedulePartial();
      },
      (err) => {
        if (this.#inFlight?.id !== request.id) return;
        this.#inFlight = undefined;
        this.#lastRequestedText = this.#lastPublished?.text; // let the same text be tried again
        if (!isAbort(err)) this.#onError?.(err);
        this.#schedulePartial();
      },
    );
  }

  /** Starts a request, aborting the one it supersedes. */
  #request(text: string, basis: ScoreBasis): InFlight {
    this.#abortInFlight();
    const controller = new AbortController();
    const id = ++this.#seq;
    const promise = controller.signal.aborted
      ? Promise.reject(abortedError(controller.signal))
      : this.#engine.score(text, controller.signal);
    const inFlight: InFlight = { id, text, basis, controller, promise };
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
