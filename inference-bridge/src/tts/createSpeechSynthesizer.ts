// The node's speech synthesiser: flite for English, espeak-ng for the other
// languages it has voices for (LanguageTts), both started through one launcher
// helper and under one node-wide cap on runs, behind the synthesis cache.
import type { Logger } from "pino";
import { EspeakTts } from "./EspeakTts.ts";
import { FliteTts } from "./FliteTts.ts";
import { LanguageTts } from "./LanguageTts.ts";
import { ProgramSynthesis } from "./ProgramSynthesis.ts";
import type { SpeechSynthesizer } from "./SpeechSynthesizer.ts";
import { SynthesisCache } from "./SynthesisCache.ts";
import { reportSynthesisSetup } from "./synthesisSetup.ts";

export interface SpeechSynthesisOptions {
  /** flite's voice (TTS_VOICE; default "slt"). */
  voice?: string;
  /** Seconds of audio kept to say again without a run (TTS_CACHE_SECONDS); 0: no cache. */
  cacheSeconds: number;
  /** TTS_SERVICE_URL, which Parley does not use: a warning at startup when set. */
  ttsServiceUrl?: string | undefined;
  logger: Logger;
}

/** Also logs, at startup, what an operator must know: a program missing, TTS_SERVICE_URL set. */
export function createSpeechSynthesizer(options: SpeechSynthesisOptions): SpeechSynthesizer {
  const runs = new ProgramSynthesis();
  const flite = new FliteTts(options.voice, { runs });
  const espeak = new EspeakTts({ runs });
  void reportSynthesisSetup(options.logger, {
    program: flite.program,
    otherLanguages: espeak.program,
    ttsServiceUrl: options.ttsServiceUrl,
  });
  const speech = new LanguageTts({ english: flite, others: espeak, logger: options.logger });
  return options.cacheSeconds > 0 ? new SynthesisCache(speech, options.cacheSeconds) : speech;
}
