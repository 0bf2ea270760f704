// A benchmark-only speech worker: it speaks the real gRPC protocol but, instead
// of recognising speech, timestamps every PCM chunk on arrival and, every
// `segmentEveryMs`, emits a numbered partial whose end is the audio received
// so far, remembering when it sent it; every `finalEveryMs` of audio that
// partial is made final and the audio committed (as a real worker does, so a
// long run never fills the bridge's replay ring). That isolates the latency
// and cost of Parley's own path (media plane, bridge, edge) from the speech
// engine's compute. Not a recogniser: never use it outside benchmarks and
// load tests of the pipeline.

import { create } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type RecognizeRequest,
  type RecognizeResponse,
  RecognizeResponseSchema,
  SpeechRecognizer,
  WorkerInfoSchema,
} from "@parley/proto/asr";
import { grpcServiceDefinition } from "@parley/proto/grpc";
import { loopDelayMs, newLoopDelayMonitor } from "../run/loopDelay.ts";

const SAMPLES_PER_MS = 16;

export interface ProbeStream {
  sessionId: string;
  /** machineClock() at which the chunk starting at a 20 ms frame index arrived. */
  chunkArrivals: Map<number, number>;
}

/** What a probe recorded, in a form that crosses a process boundary (takeRecords()). */
export interface ProbeRecords {
  /** Per session: [frame index, arrival time] pairs. */
  chunkArrivals: [sessionId: string, arrivals: [frame: number, at: number][]][];
  /** [segment text, sent time] pairs. */
  segmentSentAt: [text: string, at: number][];
  /** How late this process's event loop ran a 10 ms timer since the last take (p99, max): what an arriving chunk can wait. */
  loopDelay: { p99Ms: number; maxMs: number };
}

/**
 * Milliseconds on a clock every process of this machine shares (the time
 * origin is the system clock at process start, to the microsecond): a probe
 * in its own process can be compared with the load generator's times.
 */
export const machineClock = (): number => performance.timeOrigin + performance.now();

export interface LatencyProbeOptions {
  /** How often a segment is emitted (default 250 ms). */
  segmentEveryMs?: number;
  /** Audio after which the open segment is made final and committed (default 2000 ms). */
  finalEveryMs?: number;
  /**
   * Without segments (a huge segmentEveryMs), commit the audio received this often, as a
   * real worker commits silence: the bridge treats a call that never commits as hung.
   */
  commitEveryMs?: number;
  /** Keep per-chunk arrival times and per-segment send times on machineClock (the voice-path benchmark reads them). */
  record?: boolean;
}

export class LatencyProbeRecognizer {
  readonly streams = new Map<string, ProbeStream>();
  /** machineClock() at which "probe <n> <session>" was written. */
  readonly segmentSentAt = new Map<string, number>();
  readonly #server = new grpc.Server();
  readonly #segmentEveryMs: number;
  readonly #finalEverySamples: number;
  readonly #commitEveryMs: number | undefined;
  readonly #record: boolean;
  readonly #loopDelay = newLoopDelayMonitor();
  port = 0;

  constructor(options: LatencyProbeOptions | number = {}) {
    const o = typeof options === "number" ? { segmentEveryMs: options } : options;
    this.#segmentEveryMs = o.segmentEveryMs ?? 250;
    this.#finalEverySamples = (o.finalEveryMs ?? 2_000) * SAMPLES_PER_MS;
    this.#commitEveryMs = o.commitEveryMs;
    this.#record = o.record ?? true;
    if (this.#record) this.#loopDelay.enable();
  }

  /** Everything recorded so far, as plain arrays; forgets it. */
  takeRecords(): ProbeRecords {
    const records: ProbeRecords = {
      chunkArrivals: [...this.streams].map(([id, stream]) => [id, [...stream.chunkArrivals]]),
      segmentSentAt: [...this.segmentSentAt],
      loopDelay: { p99Ms: loopDelayMs(this.#loopDelay.percentile(99)), maxMs: loopDelayMs(this.#loopDelay.max) },
    };
    this.streams.clear();
    this.segmentSentAt.clear();
    this.#loopDelay.reset();
    return records;
  }

  async start(host = "127.0.0.1", port = 0): Promise<string> {
    this.#server.addService(grpcServiceDefinition(SpeechRecognizer), {
      recognize: (call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>) => this.#recognize(call),
      getWorkerInfo: (_: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, create(WorkerInfoSchema, { workerId: "latency-probe", engine: "latency-probe", maxStreams: 10_000 })),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    return `${host}:${this.port}`;
  }

  stop(): void {
    this.#loopDelay.disable();
    this.#server.forceShutdown();
  }

  #recognize(call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>): void {
    let stream: ProbeStream | undefined;
    let n = 0;
    let segmentId = 0;
    let segmentStart = 0; // samples
    let received = 0; // end of the audio received, samples
    const timer = setInterval(() => {
      if (!stream || received === segmentStart) return;
      const text = `probe ${n} ${stream.sessionId}`;
      const isFinal = received - segmentStart >= this.#finalEverySamples;
      if (this.#record) this.segmentSentAt.set(text, machineClock());
      const startMs = Math.floor(segmentStart / SAMPLES_PER_MS);
      const endMs = Math.floor(received / SAMPLES_PER_MS);
      call.write(
        create(RecognizeResponseSchema, {
          kind: {
            case: "segment",
            value: {
              segmentId,
              isFinal,
              speechFinal: isFinal,
              text,
              startMs,
              endMs,
              audioOffsetSamples: received,
              words: isFinal ? [{ text: `probe${n}`, startMs, endMs }] : [],
            },
          },
        }),
      );
      n++;
      if (isFinal) {
        call.write(
          create(RecognizeResponseSchema, { kind: { case: "ack", value: { committedOffsetSamples: received } } }),
        );
        segmentId++;
        segmentStart = received;
      }
    }, this.#segmentEveryMs);
    call.on("data", (request: RecognizeRequest) => {
      const now = machineClock();
      if (request.kind.case === "config") {
        const config = request.kind.value;
        stream = { sessionId: config.sessionId, chunkArrivals: new Map() };
        segmentId = config.firstSegmentId;
        segmentStart = received = config.startOffsetSamples;
        if (this.#record) this.streams.set(stream.sessionId, stream);
        call.write(create(RecognizeResponseSchema, { kind: { case: "ready", value: { engine: "latency-probe" } } }));
      } else if (request.kind.case === "audio" && stream) {
        const { offsetSamples, pcm } = request.kind.value;
        received = offsetSamples + pcm.byteLength / 2;
        if (!this.#record) return;
        // Every 20 ms frame in the chunk arrived now (batched frames wait for the batch).
        const first = Math.ceil(offsetSamples / 320);
        const end = Math.floor(received / 320);
        for (let frame = first; frame < end; frame++) stream.chunkArrivals.set(frame, now);
      } else if (request.kind.case === "end") {
        if (received > segmentStart) {
          const startMs = Math.floor(segmentStart / SAMPLES_PER_MS);
          const endMs = Math.floor(received / SAMPLES_PER_MS);
          call.write(
            create(RecognizeResponseSchema, {
              kind: {
                case: "segment",
                value: {
                  segmentId,
                  isFinal: true,
                  speechFinal: true,
                  text: `probe ${n++} ${stream?.sessionId ?? ""}`,
                  startMs,
                  endMs,
                  words: [{ text: "probe", startMs, endMs }],
                },
              },
            }),
          );
        }
        call.write(
          create(RecognizeResponseSchema, { kind: { case: "ack", value: { committedOffsetSamples: received } } }),
        );
        call.end();
      }
    });
    let committedTo = 0; // samples
    const committer =
      this.#commitEveryMs === undefined
        ? undefined
        : setInterval(() => {
            if (received <= committedTo) return;
            committedTo = received;
            call.write(
              create(RecognizeResponseSchema, { kind: { case: "ack", value: { committedOffsetSamples: received } } }),
            );
          }, this.#commitEveryMs);
    const stop = () => {
      clearInterval(timer);
      clearInterval(committer);
    };
    call.on("end", stop);
    call.on("error", stop);
    call.on("cancelled", stop);
  }
}
