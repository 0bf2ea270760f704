// Prometheus metrics of the inference bridge (default prom-client registry).
import { Counter, Gauge, Histogram } from "prom-client";

export const voiceProcessingErrors = new Counter({
  name: "voice_processing_errors_total",
  help: "Errors on the voice path, by stage",
  labelNames: ["stage", "reason"] as const,
});
// The errors of a fixed name at 0 from start-up (VoiceProcessingFailed takes a rate
// of them; a counter series that first appears at 1 shows no increase). A failed
// call's gRPC status code (stage "asr", reason the code) appears when it happens.
for (const [stage, reason] of [
  ["asr", "gave_up"],
  ["asr", "timeout"],
  ["asr", "replay_overflow"],
  ["scoring", "partial_score"],
  ["scoring", "final_score"],
  ["follow_up", "error"],
  ["tts", "synthesis_failed"],
  ["tts", "synthesis_timeout"],
  ["tts", "synthesis_busy"],
] as const)
  voiceProcessingErrors.inc({ stage, reason }, 0);

export const voiceProcessingDuration = new Histogram({
  name: "voice_processing_duration_seconds",
  help: "Time spent processing voice feedback: end of an utterance's audio to its final transcript",
  buckets: [0.1, 0.5, 1, 2, 5, 10, 30],
});

export const voiceProcessingQueueSize = new Gauge({
  name: "voice_processing_queue_size",
  help: "Audio chunks held for replay, not yet committed by a speech worker",
});

export const asrStreams = new Gauge({
  name: "asr_streams_active",
  help: "Open speech-recognition streams",
  labelNames: ["worker"] as const,
});

export const asrReconnects = new Counter({
  name: "asr_stream_reconnects_total",
  help: "Speech-recognition streams resumed on a (possibly other) worker",
});

export const asrSegments = new Counter({
  name: "asr_segments_total",
  help: "Transcript segments received from speech workers",
  labelNames: ["final"] as const,
});

export const asrAudioToWorkerLatency = new Histogram({
  name: "asr_audio_send_latency_seconds",
  help: "RTP arrival at the media plane to the PCM chunk handed to gRPC",
  buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.05],
});

export const asrWorkerProbes = new Counter({
  name: "asr_worker_probes_total",
  help: "GetWorkerInfo calls to speech workers (readiness and admission; at most one per worker per second)",
  labelNames: ["worker"] as const,
});

export const asrAdmissions = new Counter({
  name: "asr_admissions_total",
  help: "Conversations asking for speech capacity, by outcome (admitted; refused: at session creation, 503, or at the microphone; expired: admitted but no audio came)",
  labelNames: ["outcome"] as const,
});

export const asrAudioDropped = new Counter({
  name: "asr_audio_dropped_samples_total",
  help: "16 kHz samples dropped before a speech worker got them (worker too slow: replay buffer full)",
});

export const asrWorkerMarkedDown = new Counter({
  name: "asr_worker_marked_down_total",
  help: "Speech workers taken out of placements because a stream on them broke or stalled (each sits out a while, longer after repeated incidents)",
  labelNames: ["worker"] as const,
});

export const asrWorkerCapacity = new Gauge({
  name: "asr_worker_capacity_streams",
  help: "Streams each speech worker admits (WorkerInfo.max_streams at the last probe; 0 while it does not answer)",
  labelNames: ["worker"] as const,
});

export const asrPartialLag = new Histogram({
  name: "asr_partial_lag_seconds",
  help: "How late a partial transcript shows its audio: arrival of the partial minus the capture of the audio at its end_ms",
  buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10],
});

export const ttsSyntheses = new Counter({
  name: "tts_syntheses_total",
  help: "Speech the AI needed, by where it came from: the synthesiser (flite) or the node's cache of earlier syntheses",
  labelNames: ["source"] as const,
});
