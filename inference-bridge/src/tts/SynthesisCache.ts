// Synthesised speech kept by its language and text, node-wide (the same
// words in two languages are two voices, two sounds). The AI says the same
// things again: the built-in planner's questions in every conversation, and
// a question the director made speculatively, threw away when the customer
// went on, and makes again later (in another turn or another conversation).
// A hit costs no synthesiser run: no flite process, no temporary file, no
// round trip through the launcher.
//
// Bounded by audio held (least recently used first out). Callers share the
// samples: they are read-only (SpokenReply and AiVoice only read them).
import { ttsSyntheses } from "../metrics.ts";
import { abortError } from "./ProcessLauncher.ts";
import type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";

/** Audio kept by default: five minutes at 16 kHz, about 10 MB. */
const DEFAULT_MAX_SECONDS = 300;
const SAMPLE_RATE = 16_000;

export class SynthesisCache implements SpeechSynthesizer {
  readonly name: string;
  readonly #inner: SpeechSynthesizer;
  readonly #maxSamples: number;
  /** By cacheKey, in order of last use, oldest first (a Map keeps insertion order). */
  readonly #entries = new Map<string, Int16Array>();
  #samples = 0;

  constructor(inner: SpeechSynthesizer, maxSeconds = DEFAULT_MAX_SECONDS) {
    this.#inner = inner;
    this.name = inner.name;
    this.#maxSamples = maxSeconds * SAMPLE_RATE;
  }

  /** Audio held, in samples. */
  get samples(): number {
    return this.#samples;
  }

  get size(): number {
    return this.#entries.size;
  }

  async synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array> {
    if (signal?.aborted) throw abortError(signal);
    const key = cacheKey(text, language);
    const cached = this.#entries.get(key);
    if (cached) {
      this.#entries.delete(key);
      this.#entries.set(key, cached);
      ttsSyntheses.inc({ source: "cache" });
      return cached;
    }
    const pcm = await this.#inner.synthesize(text, signal, language);
    ttsSyntheses.inc({ source: "synthesizer" });
    this.#keep(key, pcm);
    return pcm;
  }

  close(): void {
    this.#entries.clear();
    this.#samples = 0;
    this.#inner.close?.();
  }

  #keep(key: string, pcm: Int16Array): void {
    if (pcm.length > this.#maxSamples) return;
    const earlier = this.#entries.get(key); // two conversations made it at once
    if (earlier) this.#samples -= earlier.length;
    this.#entries.delete(key);
    this.#entries.set(key, pcm);
    this.#samples += pcm.length;
    for (const [oldest, samples] of this.#entries) {
      if (this.#samples <= this.#maxSamples) break;
      this.#entries.delete(oldest);
      this.#samples -= samples.length;
    }
  }
}

/** A text in a language (absent: none given, which is English); a NUL, which neither holds, keeps them apart. */
const cacheKey = (text: string, language: string | undefined): string => `${language ?? ""}\0${text}`;
