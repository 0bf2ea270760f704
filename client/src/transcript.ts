// The transcript as the customer sees it: segments by id, finals replacing partials.
import type { TranscriptSegment } from "@parley/proto/live";

export interface ShownSegment {
  id: number;
  text: string;
  isFinal: boolean;
}

export function applySegment(segments: ShownSegment[], event: TranscriptSegment): ShownSegment[] {
  const next = segments.filter((s) => s.id !== event.segmentId);
  const existing = segments.find((s) => s.id === event.segmentId);
  if (existing?.isFinal && !event.isFinal) return segments; // a late partial never undoes a final
  next.push({ id: event.segmentId, text: event.text, isFinal: event.isFinal });
  return next.sort((a, b) => a.id - b.id);
}
