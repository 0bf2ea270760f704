// Speaks each conversation's questions in its store's language: English (or
// no language) with flite's voice, any other language with espeak-ng's voice
// for it. A language espeak-ng lacks, or espeak-ng missing on the machine,
// falls back to flite (the words then sound English: better than silence),
// with one warning per language, not one per clause.
//
// Whether espeak-ng has a language is asked once per primary language subtag
// ("sv-SE" and "sv-FI" are both "sv") and remembered; concurrent first
// clauses in one language share the question.
import type { Logger } from "pino";
import type { VoiceLookup } from "./EspeakTts.ts";
import { primaryLanguage } from "./EspeakTts.ts";
import { abortError } from "./ProcessLauncher.ts";
import type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";

/** A synthesiser of many languages that can tell which it has (EspeakTts). */
export interface MultilingualSynthesizer extends SpeechSynthesizer {
  voiceFor(language: string, signal?: AbortSignal): Promise<VoiceLookup>;
}

export interface LanguageTtsOptions {
  /** Speaks English, and what `others` cannot (FliteTts). */
  english: SpeechSynthesizer;
  /** Speaks the other languages it has voices for (EspeakTts). */
  others: MultilingualSynthesizer;
  logger: Logger;
}

export class LanguageTts implements SpeechSynthesizer {
  readonly name: string;
  readonly #english: SpeechSynthesizer;
  readonly #others: MultilingualSynthesizer;
  readonly #logger: Logger;
  /** The synthesiser of each primary language subtag, once known (or being found out). */
  readonly #routes = new Map<string, Promise<SpeechSynthesizer>>();

  constructor(options: LanguageTtsOptions) {
    this.#english = options.english;
    this.#others = options.others;
    this.#logger = options.logger;
    this.name = `${options.english.name}+${options.others.name}`;
  }

  /** Rejects as the chosen synthesiser does; also when espeak-ng could not tell whether it has the language. */
  async synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array> {
    const synthesizer = await this.synthesizerFor(language, signal);
    return synthesizer.synthesize(text, signal, language);
  }

  /** The synthesiser that speaks `language` (a BCP 47 tag; absent: English). */
  async synthesizerFor(language?: string, signal?: AbortSignal): Promise<SpeechSynthesizer> {
    if (signal?.aborted) throw abortError(signal);
    if (!language?.trim()) return this.#english;
    const primary = primaryLanguage(language);
    if (primary === "en") return this.#english;
    const key = primary ?? language.trim();
    let route = this.#routes.get(key);
    if (!route) {
      route = this.#route(language);
      this.#routes.set(key, route);
      // Not known after all (a stalled or killed check): asked again by the next clause.
      route.catch(() => this.#routes.get(key) === route && this.#routes.delete(key));
    }
    return signal ? abortable(route, signal) : route;
  }

  close(): void {
    this.#routes.clear();
    this.#english.close?.();
    this.#others.close?.();
  }

  async #route(language: string): Promise<SpeechSynthesizer> {
    // Not the caller's signal: the answer is shared, and remembered.
    const lookup = await this.#others.voiceFor(language);
    if (lookup.found) {
      this.#logger.debug({ language, synthesizer: this.#others.name, voice: lookup.voice }, "voice found");
      return this.#others;
    }
    this.#logger.warn(
      { language, synthesizer: this.#english.name, reason: lookup.why },
      `${lookup.why}: questions in "${language}" are read by ${this.#english.name}, an English voice`,
    );
    return this.#english;
  }
}

/** `promise`, or an AbortError as soon as `signal` fires. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}
