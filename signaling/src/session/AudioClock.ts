// One conversation's audio timeline across media. Each media's RTP→PCM
// decoder numbers its samples from 0; when a session's media moves to
// another worker (the first one died), the new decoder's audio must land
// after everything the speech stream already has, or the worker would see
// time run backwards. A short silence marks the break, so that words from
// before and after it are not glued into one.
import type { VoiceConversation } from "@parley/inference-bridge";

type PcmSink = VoiceConversation["pushPcm"];

const FRAME = 320; // 20 ms at 16 kHz
const SILENCE = new Int16Array(FRAME);

export class AudioClock {
  readonly #sink: PcmSink;
  /** First sample after everything pushed so far. */
  #end = 0;
  #segments = 0;

  /** `startSamples`: where the first media's audio begins (after audio a previous process already had). */
  constructor(sink: PcmSink, startSamples = 0) {
    this.#sink = sink;
    this.#end = startSamples;
  }

  /**
   * The sink for the next media's decoder. After the first, `gapMs` of
   * silence is pushed first (now), and the media's sample 0 follows it.
   */
  next(gapMs = 400): PcmSink {
    if (this.#segments++ > 0 && this.#end > 0) {
      const now = performance.now();
      for (let left = Math.round((gapMs * 16) / FRAME); left > 0; left--) this.#push(SILENCE, this.#end, now);
    }
    const base = this.#end;
    return (pcm, offsetSamples, arrivedAtMs) => this.#push(pcm, base + offsetSamples, arrivedAtMs);
  }

  #push(pcm: Int16Array, offsetSamples: number, arrivedAtMs: number): void {
    this.#sink(pcm, offsetSamples, arrivedAtMs);
    this.#end = Math.max(this.#end, offsetSamples + pcm.length);
  }
}
