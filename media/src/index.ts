export { AiVoice, type Playback, type PlaybackEnd } from "./AiVoice.ts";
export { CustomerMedia, type CustomerMediaStats, type Direction } from "./CustomerMedia.ts";
export { MediaListener } from "./MediaListener.ts";
export { AUDIO_CODECS, MediaWorkerPool, type WorkerDeathCause } from "./MediaWorkerPool.ts";
export { OUTPUT_SAMPLE_RATE, opusBackend } from "./opus.ts";
export { type PcmSink, RtpAudioDecoder, type RtpAudioStats } from "./RtpAudioDecoder.ts";
