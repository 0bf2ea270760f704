// Text-to-speech with Debian's espeak-ng: the voice of the questions in
// languages other than English (flite has English voices only, and reads
// Swedish as if it were English). The voice is the conversation's primary
// language subtag ("sv-SE" → espeak-ng's "sv"). espeak-ng writes 22050 Hz; the
// samples are resampled to the 16 kHz every synthesiser returns. Started, with
// its deadline and run limits, as flite is (ProgramSynthesis).
import { ProgramSynthesis, type ProgramSynthesisOptions } from "./ProgramSynthesis.ts";
import { resample } from "./resample.ts";
import type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";
import { SynthesisError } from "./SynthesisError.ts";
import { findProgram } from "./synthesisSetup.ts";
import { wavAudio } from "./wav.ts";

export interface EspeakTtsOptions extends ProgramSynthesisOptions {
  /** The program to run (default "espeak-ng", found on PATH). */
  program?: string;
  /** Runs shared with another synthesiser (one helper, one node-wide cap); the options above are then its. */
  runs?: ProgramSynthesis;
}

/** Whether a synthesiser has a voice for a language, and if not, why. */
export type VoiceLookup = { found: true; voice: string } | { found: false; why: string };

const SAMPLE_RATE = 16_000;

/**
 * The primary language subtag of a BCP 47 tag, lower case ("sv-SE" → "sv"),
 * or undefined when the tag has none that could name a voice (2 to 8
 * letters): a tag comes from a store's settings and becomes a program argument.
 */
export function primaryLanguage(tag: string | undefined): string | undefined {
  const primary = (tag ?? "").trim().split(/[-_]/)[0]!.toLowerCase();
  return /^[a-z]{2,8}$/.test(primary) ? primary : undefined;
}

export class EspeakTts implements SpeechSynthesizer {
  readonly name = "espeak-ng";
  readonly program: string;
  readonly #runs: ProgramSynthesis;

  constructor(options: EspeakTtsOptions = {}) {
    this.program = options.program ?? "espeak-ng";
    this.#runs = options.runs ?? new ProgramSynthesis(options);
  }

  /**
   * Speech in `language`'s espeak-ng voice (absent: English), 16 kHz. Rejects
   * with an AbortError when `signal` fires, else with a SynthesisError (a
   * voice espeak-ng lacks is a "failed" one: voiceFor tells beforehand).
   */
  async synthesize(text: string, signal?: AbortSignal, language?: string): Promise<Int16Array> {
    const voice = language?.trim() ? primaryLanguage(language) : "en";
    if (!voice) throw new SynthesisError("failed", `no espeak-ng voice can be named after "${language}"`);
    // -b 1: the text is UTF-8; "--": text that starts with a dash is text, not an option.
    const args = (file: string) => ["-v", voice, "-b", "1", "-w", file, "--", text];
    const { rate, samples } = wavAudio(await this.#runs.wav(this.program, args, signal));
    return resample(samples, rate, SAMPLE_RATE);
  }

  /**
   * Whether espeak-ng can speak `language` (a BCP 47 tag): asks espeak-ng to
   * select the voice, saying nothing (a run of ~10 ms, outside the run slots,
   * under the deadline). Resolves not found when espeak-ng is not installed or
   * has no such voice; rejects (AbortError, SynthesisError) when it could not
   * tell.
   */
  async voiceFor(language: string, signal?: AbortSignal): Promise<VoiceLookup> {
    const voice = primaryLanguage(language);
    if (!voice) return { found: false, why: `"${language}" names no language` };
    if (!(await findProgram(this.program))) return { found: false, why: `${this.program} is not installed` };
    const { code, signal: killedBy, stderr } = await this.#runs.run(this.program, ["-q", "-v", voice, ""], signal);
    if (code === 0) return { found: true, voice };
    if (code !== null)
      return { found: false, why: `${this.program} has no voice for "${voice}" (exit ${code}: ${stderr.trim()})` };
    throw new SynthesisError("failed", `${this.program} was killed (${killedBy}) while selecting the voice "${voice}"`);
  }

  close(): void {
    this.#runs.close();
  }
}
