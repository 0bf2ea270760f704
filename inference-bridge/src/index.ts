export { AsrWorker, AsrWorkerPool } from "./AsrWorkerPool.ts";
export { RecognitionStream, SAMPLE_RATE_HZ } from "./RecognitionStream.ts";
export { TranscriptAssembler } from "./TranscriptAssembler.ts";
export { VoiceConversation } from "./VoiceConversation.ts";
export { DEFAULT_ASR_RETRY, type RetryPolicy } from "./retry.ts";
export { AsrWorkerProcess, freePort, ASR_WORKER_DIR } from "./AsrWorkerProcess.ts";
