// Per-turn metrics, as LiveKit and Pipecat report them.
import { Counter, Histogram } from "prom-client";

const buckets = [0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1, 1.5, 2, 3, 5];

export const aiTurnMetrics = {
  endOfUtteranceDelay: new Histogram({
    name: "turn_end_of_utterance_delay_seconds",
    help: "End of the customer's speech to the end of their turn being decided",
    buckets,
  }),
  transcriptionDelay: new Histogram({
    name: "turn_transcription_delay_seconds",
    help: "End of the customer's speech to the final transcript segment",
    buckets,
  }),
  ttsTimeToFirstByte: new Histogram({
    name: "tts_time_to_first_byte_seconds",
    help: "Text-to-speech start to the first piece of the AI's reply synthesised (it may start before the turn ends)",
    buckets,
  }),
  responseLatency: new Histogram({
    name: "turn_response_latency_seconds",
    help: "End of the customer's turn to the first RTP packet of the AI's follow-up",
    buckets,
  }),
  voiceToVoice: new Histogram({
    name: "turn_voice_to_voice_seconds",
    help: "The customer's last voiced frame to the first RTP packet of the AI's follow-up",
    buckets,
  }),
  speculations: new Counter({
    name: "turn_speculations_total",
    help: "Follow-ups prepared while the customer's silence accrued: used at the turn's end, or discarded because the customer went on",
    labelNames: ["outcome"] as const,
  }),
  bargeIns: new Counter({ name: "turn_barge_ins_total", help: "Times the customer talked over the AI" }),
};
