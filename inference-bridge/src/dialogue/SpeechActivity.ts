// Energy-based voice activity on the customer's 20 ms PCM frames: fast enough
// for barge-in (the recogniser's partials come hundreds of ms later) and for
// counting the silence that ends a turn. The threshold adapts to the line's
// noise floor, which learns only from frames that sound like the line, not
// from the quiet parts of speech (else it climbs into the voice and the end
// of a sentence goes unheard).
const FRAME = 320;
const FRAME_MS = 20;

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
    const threshold = Math.max(this.#minRms, this.#noiseFloor * this.#ratio);
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
