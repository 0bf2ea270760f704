// The AI's speech as Opus frames, encoded once per piece of PCM and kept as
// long as that PCM lives. The AI says the same things again (the synthesis
// cache hands out the very same samples for the same words), and encoding is
// the voice's main cost: ~105 µs per 20 ms frame, half a per cent of a core
// for every voice speaking. A repeated question costs none of it.
//
// So that a piece's frames do not depend on what was said before it, each
// piece is encoded from a fresh encoder and padded with silence to whole
// frames. Pieces are clauses (speechChunks) and start and end in the
// synthesiser's silence, so the reset is inaudible.
//
// Frames are encoded as playback reaches them, never a whole reply at once
// on the event loop, and appended to the entry every playback of that piece
// shares. A playback stopped midway leaves the entry incomplete, with its
// encoder, and the next one continues it; frame i depends on frames 0…i-1
// only, which were encoded in order, whoever asked for them.
import { Encoder } from "@evan/opus";

export const FRAME_SAMPLES = 320; // 20 ms at 16 kHz
/** The Opus encoder's complexity for the AI's voice (see newEncoder). */
export const VOICE_COMPLEXITY = 5;

function newEncoder(): Encoder {
  const encoder = new Encoder({ channels: 1, sample_rate: 16_000, application: "voip" });
  encoder.bitrate = 24_000;
  // libopus defaults to complexity 10: ~150 µs per 20 ms frame of a flite
  // voice on the development VM. 5, what WebRTC uses on phones, takes ~105 µs
  // with the decoded waveform as close to the original (bench/voice-encoder.bench.ts).
  encoder.complexity = VOICE_COMPLEXITY;
  return encoder;
}

/** The last frame of a piece that is not a whole frame, zero-padded (shared: encode() copies out at once). */
const padded = new Int16Array(FRAME_SAMPLES);

export class EncodedSpeech {
  /** Frames the piece makes (its last one zero-padded). */
  readonly frameCount: number;
  readonly #pcm: Int16Array;
  readonly #frames: Uint8Array[] = [];
  /** Present while frames remain to be encoded; dropped when the last one is. */
  #encoder: Encoder | undefined;

  constructor(pcm: Int16Array) {
    this.#pcm = pcm;
    this.frameCount = Math.ceil(pcm.length / FRAME_SAMPLES);
  }

  /** Frames encoded so far (all of them once the piece was played to its end). */
  get encodedFrames(): number {
    return this.#frames.length;
  }

  /** Opus payload of frame `i`; frames are asked for in order (i ≤ encodedFrames). */
  frame(i: number): Uint8Array {
    const cached = this.#frames[i];
    if (cached) return cached;
    if (i !== this.#frames.length || i >= this.frameCount) throw new RangeError(`no frame ${i} to encode`);
    this.#encoder ??= newEncoder();
    const start = i * FRAME_SAMPLES;
    let samples = this.#pcm.subarray(start, start + FRAME_SAMPLES);
    if (samples.length < FRAME_SAMPLES) {
      padded.set(samples);
      padded.fill(0, samples.length);
      samples = padded;
    }
    const payload = this.#encoder.encode(samples); // a copy of its own
    this.#frames.push(payload);
    if (this.#frames.length === this.frameCount) this.#encoder = undefined;
    return payload;
  }
}

/** Node-wide: an entry lives as long as its PCM does (the synthesis cache's bound is this cache's bound). */
const byPcm = new WeakMap<Int16Array, EncodedSpeech>();

/** The frames of `pcm`, shared with every other playback of the same samples. */
export function encodedSpeech(pcm: Int16Array): EncodedSpeech {
  let entry = byPcm.get(pcm);
  if (!entry) {
    entry = new EncodedSpeech(pcm);
    byPcm.set(pcm, entry);
  }
  return entry;
}
