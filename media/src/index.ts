export { CustomerMedia, type Direction } from "./CustomerMedia.ts";
export { MediaWorkerPool, AUDIO_CODECS } from "./MediaWorkerPool.ts";
export { RtpAudioDecoder, type PcmSink, type RtpAudioStats } from "./RtpAudioDecoder.ts";
export { opusBackend, OUTPUT_SAMPLE_RATE } from "./opus.ts";
