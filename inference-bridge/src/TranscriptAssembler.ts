// The transcript so far: one entry per segment id; a final replaces the
// partials of its id, and a later final of the same id replaces an earlier one.
import { create } from "@bufbuild/protobuf";
import type { Segment } from "@parley/proto/asr";
import { type TranscriptSegment, TranscriptSegmentSchema } from "@parley/proto/live";

/** A final segment as stored (records), put back when a conversation resumes. */
export interface RestoredSegment {
  segmentId: number;
  text: string;
  words: { text: string; startMs: number; endMs: number }[];
  startMs: number;
  endMs: number;
  speechFinal: boolean;
}

export class TranscriptAssembler {
  readonly #sessionId: string;
  readonly #segments = new Map<number, TranscriptSegment>();

  constructor(sessionId: string) {
    this.#sessionId = sessionId;
  }

  /**
   * Applies a worker segment; returns the live event to publish, or undefined
   * when nothing changed (a partial repeating the text, or one arriving after
   * its segment was already final).
   */
  apply(segment: Segment): TranscriptSegment | undefined {
    const current = this.#segments.get(segment.segmentId);
    if (current?.isFinal && !segment.isFinal) return undefined;
    if (current && current.isFinal === segment.isFinal && current.text === segment.text) return undefined;
    const next = create(TranscriptSegmentSchema, {
      sessionId: this.#sessionId,
      segmentId: segment.segmentId,
      isFinal: segment.isFinal,
      speechFinal: segment.speechFinal,
      text: segment.text,
      words: segment.words.map((w) => ({ text: w.text, startMs: w.startMs, endMs: w.endMs })),
      startMs: segment.startMs,
      endMs: segment.endMs,
      stability: segment.stability,
    });
    this.#segments.set(segment.segmentId, next);
    return next;
  }

  /** Puts stored final segments back (a conversation resumed after its node restarted). */
  restore(segments: readonly RestoredSegment[]): void {
    for (const segment of segments)
      this.#segments.set(
        segment.segmentId,
        create(TranscriptSegmentSchema, { ...segment, sessionId: this.#sessionId, isFinal: true, stability: 1 }),
      );
  }

  /** The highest segment id so far, or -1. */
  get lastSegmentId(): number {
    let last = -1;
    for (const id of this.#segments.keys()) if (id > last) last = id;
    return last;
  }

  /** All segments in order of id. */
  segments(): TranscriptSegment[] {
    return [...this.#segments.values()].sort((a, b) => a.segmentId - b.segmentId);
  }

  /** The final text so far (what later stages score and store). */
  finalText(): string {
    return this.segments()
      .filter((s) => s.isFinal && s.text)
      .map((s) => s.text)
      .join(" ");
  }

  /** Finals and the open partials, as shown on screen. */
  text(): string {
    return this.segments()
      .filter((s) => s.text)
      .map((s) => s.text)
      .join(" ");
  }
}
