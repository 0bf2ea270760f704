// The transcript so far: one entry per segment id; a final replaces the
// partials of its id, and a later final of the same id replaces an earlier one.
import { create } from "@bufbuild/protobuf";
import type { Segment } from "@parley/proto/asr";
import { type TranscriptSegment, TranscriptSegmentSchema } from "@parley/proto/live";

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
