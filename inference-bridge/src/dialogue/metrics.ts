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
    help: "Text-to-speech start to the first RTP packet of the AI's voice",
    buckets,
  }),
  responseLatency: new Histogram({
    name: "turn_response_latency_seconds",
    help: "End of the customer's turn to the first RTP packet of the AI's follow-up",
    buckets,
  }),
  bargeIns: new Counter({ name: "turn_barge_ins_total", help: "Times the customer talked over the AI" }),
};
