export { AsrWorker, AsrWorkerPool } from "./AsrWorkerPool.ts";
export { ASR_WORKER_DIR, AsrWorkerProcess, freePort } from "./AsrWorkerProcess.ts";
export { RecognitionStream, SAMPLE_RATE_HZ } from "./RecognitionStream.ts";
export { DEFAULT_ASR_RETRY, type RetryPolicy } from "./retry.ts";
export { TranscriptAssembler } from "./TranscriptAssembler.ts";
export { VoiceConversation } from "./VoiceConversation.ts";
