// The bridge's side of one conversation: PCM in, live transcript events out.
// Later stages (scoring, dialogue, persistence) hang off `onTranscript`.
import { create } from "@bufbuild/protobuf";
import type { Segment } from "@parley/proto/asr";
import { type LiveEvent, LiveEventSchema, type StreamState } from "@parley/proto/live";
import type { Logger } from "pino";
import type { AsrWorkerPool } from "./AsrWorkerPool.ts";
import { asrAudioToWorkerLatency, voiceProcessingDuration } from "./metrics.ts";
import { RecognitionStream } from "./RecognitionStream.ts";
import type { RetryPolicy } from "./retry.ts";
import { TranscriptAssembler } from "./TranscriptAssembler.ts";

export interface VoiceConversationOptions {
  sessionId: string;
  pool: AsrWorkerPool;
  logger: Logger;
  language?: string;
  retry?: RetryPolicy;
  /** Receives every live event of this session (transcript and status). */
  publish: (event: LiveEvent) => void;
}

export class VoiceConversation {
  readonly transcript: TranscriptAssembler;
  readonly #stream: RecognitionStream;
  readonly #publish: (event: LiveEvent) => void;
  readonly #sessionId: string;

  constructor(options: VoiceConversationOptions) {
    this.#sessionId = options.sessionId;
    this.#publish = options.publish;
    this.transcript = new TranscriptAssembler(options.sessionId);
    this.#stream = new RecognitionStream({
      sessionId: options.sessionId,
      pool: options.pool,
      logger: options.logger,
      ...(options.language ? { language: options.language } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
      onSegment: (segment) => this.#onSegment(segment),
      onState: (state, detail) =>
        this.#publish(
          create(LiveEventSchema, {
            kind: { case: "status", value: { sessionId: this.#sessionId, state, detail } },
          }),
        ),
    });
  }

  get state(): StreamState {
    return this.#stream.state;
  }

  get workerAddress(): string | undefined {
    return this.#stream.workerAddress;
  }

  /** The media plane's PCM sink. */
  readonly pushPcm = (pcm: Int16Array, offsetSamples: number, arrivedAtMs: number): void => {
    this.#stream.push(pcm, offsetSamples, arrivedAtMs);
    asrAudioToWorkerLatency.observe((performance.now() - arrivedAtMs) / 1000);
  };

  /** The customer stopped: let the worker finalise, then close. */
  end(): Promise<void> {
    return this.#stream.end();
  }

  close(): void {
    this.#stream.close();
  }

  #onSegment(segment: Segment): void {
    if (segment.isFinal && segment.capturedAtMs > 0) {
      voiceProcessingDuration.observe(Math.max(0, performance.now() - segment.capturedAtMs) / 1000);
    }
    const changed = this.transcript.apply(segment);
    if (changed) this.#publish(create(LiveEventSchema, { kind: { case: "transcript", value: changed } }));
  }
}
