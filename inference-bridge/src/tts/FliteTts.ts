// Local text-to-speech with Debian's flite (voice "slt", 16 kHz mono): the
// English voice, and the one for languages espeak-ng cannot speak
// (LanguageTts). A synthesiser returns 16 kHz mono s16le PCM. flite is started
// through a ProcessLauncher, so the node never forks itself per reply, with a
// deadline and node-wide run limits (ProgramSynthesis).
import type { Logger } from "pino";
import { ProgramSynthesis, type ProgramSynthesisOptions } from "./ProgramSynthesis.ts";
import type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";
import { reportSynthesisSetup } from "./synthesisSetup.ts";
import { wavSamples } from "./wav.ts";

export { DEFAULT_SYNTHESIS_DEADLINE_MS, type ProgramRunner } from "./ProgramSynthesis.ts";
export type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";
export { wavSamples } from "./wav.ts";

export interface FliteTtsOptions extends ProgramSynthesisOptions {
  /** The program to run (default "flite", found on PATH). */
  program?: string;
  /** Runs shared with another synthesiser (one helper, one node-wide cap); the options above are then its. */
  runs?: ProgramSynthesis;
}

export class FliteTts implements SpeechSynthesizer {
  readonly name: string;
  readonly program: string;
  readonly #voice: string;
  readonly #runs: ProgramSynthesis;

  constructor(voice = "slt", options: FliteTtsOptions = {}) {
    this.#voice = voice;
    this.name = `flite:${voice}`;
    this.program = options.program ?? "flite";
    this.#runs = options.runs ?? new ProgramSynthesis(options);
  }

  /** Rejects with an AbortError when `signal` fires, else with a SynthesisError or flite's own error. The language is not flite's concern: its voice is English. */
  async synthesize(text: string, signal?: AbortSignal): Promise<Int16Array> {
    const args = (file: string) => ["-voice", this.#voice, "-t", text, "-o", file];
    return wavSamples(await this.#runs.wav(this.program, args, signal));
  }

  /**
   * Logs what an operator must know at startup: flite missing (the AI would be
   * mute), or the deployment guide's TTS_SERVICE_URL set, which Parley does not use.
   */
  reportSetup(logger: Logger, ttsServiceUrl?: string): Promise<void> {
    return reportSynthesisSetup(logger, { program: this.program, ttsServiceUrl });
  }

  close(): void {
    this.#runs.close();
  }
}
