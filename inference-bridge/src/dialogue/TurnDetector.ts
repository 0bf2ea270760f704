// Decides when the customer's turn is over from what the node knows before
// the recogniser closes its utterance (pocketsphinx's endpointer does that
// 0.6–1.7 s after the voice stops):
//
// - the voice detector's last voiced frame: silence is counted from it;
// - whether the recogniser has caught up with that frame: a settled
//   transcript covers the frame's audio (a final, or a partial that kept most
//   of its previous words: its stability), or the recogniser closed the
//   utterance, or its words have not changed for `settleMs` since it reached
//   the end of the voice (pocketsphinx sends a partial only when its words
//   change). It reaches it its current lag after the voice stopped: on a
//   busy machine pocketsphinx falls seconds behind, and words that have not
//   changed yet are words not heard yet, not the end of a turn;
// - how the words end (turnTail, by the rules of the store's language): a
//   complete thought ends the turn after a short silence, a dangling word or
//   a filler after a long one. One word said alone after a pause that
//   followed a dangling word ("my daughter and … uh …", where the recogniser
//   hears "uh" as "add") does not resolve it;
//   the words before the pause are those the recogniser heard in the audio
//   before it, even when they arrive after the customer went on. Once a
//   result that heard all of the voice ended dangling, the silence keeps
//   that longer wait if the recogniser rewrites the words rather than adds
//   to them (pocketsphinx heard "cold, and …" as "held and", then 700 ms
//   into the pause as "held hands", and the AI asked): words revised over
//   the same audio are the recogniser's doubt, not the customer finishing.
//
// Plain logic on timestamps the caller passes in (performance.now() in the
// node, scripted times in tests); it owns no timer.
import { type TurnTail, turnTail } from "./turnTail.ts";

export interface TurnDetectorConfig {
  /** Silence that ends a turn after a complete thought. */
  completeSilenceMs: number;
  /** Silence that ends a turn after a word that usually goes on ("the", "to", "was"). */
  openSilenceMs: number;
  /** Silence that ends a turn after a conjunction or a filler ("and", "because", "um"). */
  hesitationSilenceMs: number;
  /** Words unchanged this long after the voice stopped: the recogniser has nothing to add. */
  settleMs: number;
  /** The answer may be prepared (speculatively) from this long before the turn's end… */
  prepareAheadMs: number;
  /** …but not before this much silence: pauses between words are shorter. */
  prepareAfterMs: number;
  /** New words covering audio this far past the last voiced frame: the voice detector missed speech. */
  missedVoiceMs: number;
  /** A partial less stable than this (it rewrote most of its words) does not show the recogniser caught up. */
  minStability: number;
  /** Voice after at least this much silence starts a new burst of speech. */
  burstGapMs: number;
  /** The customer's language (the store's, BCP 47: "sv-SE"): whose rules judge how the words end. */
  language: string;
}

export const DEFAULT_TURN_DETECTION: TurnDetectorConfig = {
  completeSilenceMs: 500,
  // Speakers searching for a word pause a second or more ("the coffee was …
  // um …"); measured from voiced frame to voiced frame, a one-second pause
  // reads 1.1–1.25 s (the quiet edges of the words around it), and a busy
  // machine delays the next word's frames further. 1.2 s cut customers off.
  openSilenceMs: 1_800,
  hesitationSilenceMs: 2_000,
  settleMs: 600,
  prepareAheadMs: 700,
  prepareAfterMs: 250,
  missedVoiceMs: 500,
  minStability: 0.5,
  burstGapMs: 400,
  language: "en",
};

/** The part of a transcript segment the decision needs (live TranscriptSegment fits). */
export interface HeardSegment {
  segmentId: number;
  isFinal: boolean;
  speechFinal: boolean;
  text: string;
  /** Audio covered by the segment, on the conversation clock (ms). */
  endMs: number;
  /** 0..1: how much of a partial's previous hypothesis it kept. */
  stability: number;
}

export interface TurnOutlook {
  /** When the turn ends unless the customer goes on (caller's clock). */
  endsAt: number;
  /** From when an answer may be prepared (the words may still change: then it is prepared again). */
  prepareAt: number;
  tail: TurnTail;
  /** The transcript the outlook judged (as on screen): an answer prepared for it is valid while it stands. */
  text: string;
  /** The customer's last voiced frame (caller's clock). */
  voiceAt: number;
}

const NEVER = Number.NEGATIVE_INFINITY;
const TAIL_WAIT: Record<TurnTail, number> = { complete: 0, open: 1, hesitation: 2 };

function longerWait(a: TurnTail, b: TurnTail): TurnTail {
  return TAIL_WAIT[a] >= TAIL_WAIT[b] ? a : b;
}

function countWords(text: string): number {
  let n = 0;
  for (const word of text.split(" ")) if (word) n++;
  return n;
}

export class TurnDetector {
  readonly #config: TurnDetectorConfig;
  /** Segments up to this id belong to an earlier turn unless new voice continues them. */
  #boundarySegmentId = -1;
  #lastSegmentId = -1;
  // The current turn.
  #voiced = false;
  #voiceAt = NEVER;
  #voiceAudioMs = NEVER;
  #firstVoiceAudioMs = NEVER;
  #hasWords = false;
  #text = "";
  #changedAt = NEVER;
  #coveredAudioMs = NEVER;
  #coveredAt = NEVER;
  #closedAt = NEVER;
  /** How the words ended, and how many there were, when the customer went on after a pause. */
  #tailBeforeBurst: TurnTail = "complete";
  #wordsBeforeBurst = 0;
  /**
   * Where (conversation clock) the latest burst of voice began. A recogniser
   * running behind delivers the words said before it only after it began:
   * results covering audio before this point still set the words before it.
   */
  #burstAudioMs = NEVER;
  /** How far behind the audio the recogniser's results come, as of its latest result (ms). */
  #recogniserLagMs = 0;
  /**
   * Since the last voiced frame: the words of the latest result that covered
   * all of the voice, and the longest wait such results called for since
   * the recogniser last added words rather than rewrote them.
   */
  #heardText: string | undefined;
  #heardTail: TurnTail = "complete";

  constructor(config: Partial<TurnDetectorConfig> = {}) {
    this.#config = { ...DEFAULT_TURN_DETECTION, ...config };
  }

  get config(): Readonly<TurnDetectorConfig> {
    return this.#config;
  }

  /** The customer's last voiced frame in this turn (NEGATIVE_INFINITY before any). */
  get voiceAt(): number {
    return this.#voiceAt;
  }

  /** A voiced frame of the customer: at `at`, ending at `audioMs` on the conversation clock. */
  voice(at: number, audioMs: number): void {
    this.#voice(at, audioMs, true);
  }

  #voice(at: number, audioMs: number, heard: boolean): void {
    if (!this.#voiced) {
      this.#voiced = true;
      this.#firstVoiceAudioMs = audioMs;
    } else if (heard && at - this.#voiceAt >= this.#config.burstGapMs) {
      this.#rememberBeforeBurst(this.#text);
      this.#burstAudioMs = audioMs;
    }
    this.#voiceAt = at;
    this.#voiceAudioMs = Math.max(this.#voiceAudioMs, audioMs);
    this.#newSilence();
  }

  /**
   * A transcript change; `text` is the whole transcript as on screen after
   * it; `recogniserLagMs`, how long after its audio arrived the result came.
   */
  heard(segment: HeardSegment, text: string, at: number, recogniserLagMs = 0): void {
    this.#recogniserLagMs = recogniserLagMs;
    this.#lastSegmentId = Math.max(this.#lastSegmentId, segment.segmentId);
    // An earlier turn's utterance, finalised late, is not this turn's words
    // unless the customer's new voice continues it.
    const belongs =
      segment.segmentId > this.#boundarySegmentId || (this.#voiced && segment.endMs > this.#firstVoiceAudioMs);
    if (!belongs || (!segment.text && !segment.isFinal)) return;
    const changed = text !== this.#text;
    if (segment.text && changed && segment.endMs >= this.#voiceAudioMs + this.#config.missedVoiceMs) {
      // The recogniser found new words well after the last frame the voice
      // detector called voiced (quiet speech, or no voice detector input at
      // all): the customer spoke until now.
      this.#voice(at, segment.endMs, false);
    }
    if (segment.text) this.#hasWords = true;
    if (changed) {
      this.#text = text;
      this.#changedAt = at;
      // Late words from before the burst (a busy recogniser): what the customer had said before it.
      if (segment.endMs < this.#burstAudioMs) this.#rememberBeforeBurst(text);
    }
    if (segment.text && this.#voiced && segment.endMs >= this.#voiceAudioMs) {
      const judged = this.#judgedTail();
      const added = this.#heardText === undefined || text.startsWith(`${this.#heardText} `);
      this.#heardTail = added ? judged : longerWait(this.#heardTail, judged);
      this.#heardText = text;
    }
    const settled = segment.isFinal || segment.stability >= this.#config.minStability;
    if (settled && segment.endMs > this.#coveredAudioMs) {
      this.#coveredAudioMs = segment.endMs;
      this.#coveredAt = at;
    }
    if (segment.isFinal && segment.speechFinal) this.#closedAt = at;
  }

  /** When the turn ends and when to prepare the answer; undefined while there is nothing to answer. */
  outlook(): TurnOutlook | undefined {
    if (!this.#voiced || !this.#hasWords) return undefined;
    const tail = longerWait(this.#judgedTail(), this.#heardTail);
    const heardAt = this.#heardAt();
    const endsAt = Math.max(this.#voiceAt + this.#silenceMs(tail), heardAt);
    return {
      endsAt,
      prepareAt: Math.max(this.#voiceAt + this.#config.prepareAfterMs, endsAt - this.#config.prepareAheadMs),
      tail,
      text: this.#text,
      voiceAt: this.#voiceAt,
    };
  }

  /** The AI took the turn: voice and words from now on are the customer's next turn. */
  nextTurn(): void {
    this.#boundarySegmentId = this.#lastSegmentId;
    this.#voiced = false;
    this.#voiceAt = NEVER;
    this.#voiceAudioMs = NEVER;
    this.#firstVoiceAudioMs = NEVER;
    this.#hasWords = false;
    this.#changedAt = NEVER;
    this.#coveredAudioMs = NEVER;
    this.#coveredAt = NEVER;
    this.#closedAt = NEVER;
    this.#tailBeforeBurst = "complete";
    this.#wordsBeforeBurst = 0;
    this.#burstAudioMs = NEVER;
    this.#newSilence();
  }

  /** Voice just ended (or the turn changed hands): no result has covered it yet. */
  #newSilence(): void {
    this.#heardText = undefined;
    this.#heardTail = "complete";
  }

  /** How the words on screen end, a lone word after a dangling pause judged with the words before it. */
  #judgedTail(): TurnTail {
    const tail = turnTail(this.#text, this.#config.language);
    if (this.#tailBeforeBurst !== "complete" && countWords(this.#text) - this.#wordsBeforeBurst <= 1)
      return longerWait(this.#tailBeforeBurst, tail);
    return tail;
  }

  /** The words as they stood before the customer went on after a pause. */
  #rememberBeforeBurst(text: string): void {
    this.#tailBeforeBurst = turnTail(text, this.#config.language);
    this.#wordsBeforeBurst = countWords(text);
  }

  /** When the recogniser had heard everything up to the last voiced frame. */
  #heardAt(): number {
    if (this.#closedAt >= this.#voiceAt) return this.#closedAt;
    if (this.#coveredAudioMs >= this.#voiceAudioMs && this.#coveredAt >= this.#voiceAt) return this.#coveredAt;
    return Math.max(this.#voiceAt + this.#recogniserLagMs, this.#changedAt) + this.#config.settleMs;
  }

  #silenceMs(tail: TurnTail): number {
    if (tail === "hesitation") return this.#config.hesitationSilenceMs;
    if (tail === "open") return this.#config.openSilenceMs;
    return this.#config.completeSilenceMs;
  }
}
