export {
  type AsrChannelOptions,
  AsrWorker,
  AsrWorkerPool,
  type ProbeResult,
  primaryLanguage,
} from "./AsrWorkerPool.ts";
export { ASR_WORKER_DIR, AsrWorkerProcess, freePort, workerEnvironment } from "./AsrWorkerProcess.ts";
export {
  ConversationDirector,
  DEFAULT_DIALOGUE,
  type DialogueConfig,
  type TurnTiming,
  type VoiceOutput,
} from "./dialogue/ConversationDirector.ts";
export { RecognitionStream, SAMPLE_RATE_HZ } from "./RecognitionStream.ts";
export { DEFAULT_ASR_RETRY, type RetryPolicy } from "./retry.ts";
export { SpeechReservation } from "./SpeechReservation.ts";
export { createScoring, type Scoring } from "./scoring/index.ts";
export { type RestoredSegment, TranscriptAssembler } from "./TranscriptAssembler.ts";
export { createSpeechSynthesizer, type SpeechSynthesisOptions } from "./tts/createSpeechSynthesizer.ts";
export { EspeakTts } from "./tts/EspeakTts.ts";
export { FliteTts } from "./tts/FliteTts.ts";
export { LanguageTts } from "./tts/LanguageTts.ts";
export type { SpeechSynthesizer } from "./tts/SpeechSynthesizer.ts";
export { SynthesisCache } from "./tts/SynthesisCache.ts";
export { VoiceConversation } from "./VoiceConversation.ts";
