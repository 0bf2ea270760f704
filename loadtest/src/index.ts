export { DashboardClient, dashboardWsUrl } from "./DashboardClient.ts";
export {
  createSession,
  type Endpoint,
  ProtocolClient,
  type SessionOptions,
  SessionRefused,
  wsUrl,
} from "./ProtocolClient.ts";
export { conversationWav, LIBRIVOX_DIR, librivoxRecordings, type Recording } from "./recordings.ts";
export { loopDelayMs, newLoopDelayMonitor } from "./run/loopDelay.ts";
export { parsePrometheus } from "./run/ServerWatch.ts";
export {
  INNER_PAUSE_S,
  lastVoiceSeconds,
  makeTurnRecordings,
  type TurnRecording,
} from "./turnRecordings.ts";
export { FRAME_MS, opusPacketsFromFile, WeriftCustomer } from "./WeriftCustomer.ts";
export { corpusWer, normalizeWords, wordErrors } from "./wer.ts";
