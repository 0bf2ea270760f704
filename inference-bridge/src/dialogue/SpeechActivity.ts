// Energy-based voice activity on the customer's 20 ms PCM frames: fast enough
// for barge-in (the recogniser's partials come hundreds of ms later). The
// threshold adapts to the line's noise floor.
const FRAME = 320;

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

  /** Voice right now: at least the onset's worth of loud frames in a row (not the hangover, not a click). */
  get loud(): boolean {
    return this.#loudFrames >= this.#onset;
  }

  /** Feeds PCM; returns true on the frame where speech starts. */
  push(pcm: Int16Array): boolean {
    let started = false;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      this.#frameEnergy += s * s;
      if (++this.#frameFill === FRAME) {
        started = this.#onFrame(Math.sqrt(this.#frameEnergy / FRAME)) || started;
        this.#frameEnergy = 0;
        this.#frameFill = 0;
      }
    }
    return started;
  }

  #onFrame(rms: number): boolean {
    const threshold = Math.max(this.#minRms, this.#noiseFloor * this.#ratio);
    if (rms > threshold) {
      this.#loudFrames++;
      this.#quietFrames = 0;
      if (!this.#speaking && this.#loudFrames >= this.#onset) {
        this.#speaking = true;
        return true;
      }
    } else {
      // Slow-moving noise floor from quiet frames only.
      this.#noiseFloor = this.#noiseFloor * 0.95 + rms * 0.05;
      this.#loudFrames = 0;
      if (++this.#quietFrames >= this.#hangover) this.#speaking = false;
    }
    return false;
  }
}
