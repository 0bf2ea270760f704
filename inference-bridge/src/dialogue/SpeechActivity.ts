// Energy-based voice activity on the customer's 20 ms PCM frames: fast enough
// for barge-in (the recogniser's partials come hundreds of ms later) and for
// counting the silence that ends a turn. The threshold adapts to the line's
// noise floor, which learns only from frames that sound like the line, not
// from the quiet parts of speech (else it climbs into the voice and the end
// of a sentence goes unheard).
//
// A background loud enough to pass the threshold from its first frame (a
// store's music or fridges, when the browser's noise suppression leaves it)
// would never be learnt that way: it would be speech forever, and every AI
// question barged in on. So a frame must also stand 6 dB above the quietest
// frame of the last 2 s: a steady sound is its own minimum and stops counting
// after about 2 s, while speech dips between words (the worker's VAD,
// asr-worker/parley_asr/vad.py, follows the same rule).
import { RollingMinimum } from "./RollingMinimum.ts";

const FRAME = 320;
const FRAME_MS = 20;
/** The quietest frame of the last 2 s (10 blocks of 10 frames, plus the current block). */
const STEADY_BLOCK_FRAMES = 10;
const STEADY_BLOCKS = 10;
/** Voice stands this far above the quietest frame of the window (×2 RMS: 6 dB). */
const STEADY_RATIO = 2;
/**
 * ... but a frame this loud (−24 dBFS) is voice whatever came before: a voice
 * at the microphone held that long is not background, and a background this
 * loud would leave no room to hear a voice over it anyway.
 */
const VOICE_RMS = 32_768 * 10 ** (-24 / 20);

export interface SpeechActivityOptions {
  /** Frames above threshold before speech is declared (3 × 20 ms). */
  onsetFrames?: number;
  /** Quiet frames before speech is over (15 × 20 ms: pauses between words do not count). */
  hangoverFrames?: number;
  /** Absolute floor for the RMS threshold (s16 units). */
  minRms?: number;
  /** Threshold = max(minRms, noise floor × ratio). */
  noiseRatio?: number;
}

export class SpeechActivity {
  #noiseFloor = 100;
  /** RMS of the quietest frame lately; a line starts out silent. */
  readonly #quietest = new RollingMinimum(STEADY_BLOCK_FRAMES, STEADY_BLOCKS, 0);
  #loudFrames = 0;
  #quietFrames = 0;
  #speaking = false;
  #frameEnergy = 0;
  #frameFill = 0;
  #samples = 0;
  #lastVoicedSample = -1;
  readonly #onset: number;
  readonly #hangover: number;
  readonly #minRms: number;
  readonly #ratio: number;

  constructor(options: SpeechActivityOptions = {}) {
    this.#onset = options.onsetFrames ?? 3;
    this.#hangover = options.hangoverFrames ?? 15;
    this.#minRms = options.minRms ?? 500;
    this.#ratio = options.noiseRatio ?? 4;
  }

  get speaking(): boolean {
    return this.#speaking;
  }

  /** How long speech stays on after the last voiced frame (pauses between words). */
  get hangoverMs(): number {
    return this.#hangover * FRAME_MS;
  }

  /** Voice right now: at least the onset's worth of loud frames in a row (not the hangover, not a click). */
  get loud(): boolean {
    return this.#loudFrames >= this.#onset;
  }

  /** Samples fed so far. */
  get samples(): number {
    return this.#samples;
  }

  /**
   * End (in samples fed) of the last voiced frame: a frame above the threshold
   * while speech is on (clicks before an onset do not count); -1 before any.
   */
  get lastVoicedSample(): number {
    return this.#lastVoicedSample;
  }

  /** Feeds PCM; returns true on the frame where speech starts. */
  push(pcm: Int16Array): boolean {
    let started = false;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      this.#frameEnergy += s * s;
      if (++this.#frameFill === FRAME) {
        started = this.#onFrame(Math.sqrt(this.#frameEnergy / FRAME), this.#samples + i + 1) || started;
        this.#frameEnergy = 0;
        this.#frameFill = 0;
      }
    }
    this.#samples += pcm.length;
    return started;
  }

  /** One 20 ms frame ending at sample `end`. */
  #onFrame(rms: number, end: number): boolean {
    const steady = Math.min(this.#quietest.push(rms) * STEADY_RATIO, VOICE_RMS);
    const threshold = Math.max(this.#minRms, this.#noiseFloor * this.#ratio, steady);
    if (rms > threshold) {
      this.#loudFrames++;
      this.#quietFrames = 0;
      let started = false;
      if (!this.#speaking && this.#loudFrames >= this.#onset) {
        this.#speaking = true;
        started = true;
      }
      if (this.#speaking) this.#lastVoicedSample = end;
      return started;
    }
    this.#loudFrames = 0;
    if (++this.#quietFrames >= this.#hangover) this.#speaking = false;
    // The noise floor follows the line down at once and up slowly (≈ 2 s), and
    // never learns from frames inside speech that are merely quieter than the
    // threshold: those are soft syllables, not noise.
    if (rms < this.#noiseFloor) this.#noiseFloor = this.#noiseFloor * 0.9 + rms * 0.1;
    else if (!this.#speaking || rms < this.#noiseFloor * 2) this.#noiseFloor = this.#noiseFloor * 0.99 + rms * 0.01;
    return false;
  }
}
