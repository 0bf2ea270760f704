// A benchmark-only speech worker: it speaks the real gRPC protocol but, instead
// of recognising speech, timestamps every PCM chunk on arrival and emits a
// numbered partial segment every `segmentEveryMs`, remembering when it sent
// it. That isolates the latency of Parley's own path (media plane, bridge,
// edge) from the speech engine's compute. Not a recogniser: never use it
// outside benchmarks.

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

export interface ProbeStream {
  sessionId: string;
  /** performance.now() at which the chunk starting at a 20 ms frame index arrived. */
  chunkArrivals: Map<number, number>;
}

export class LatencyProbeRecognizer {
  readonly streams = new Map<string, ProbeStream>();
  /** performance.now() at which "probe <n> <session>" was written. */
  readonly segmentSentAt = new Map<string, number>();
  readonly #server = new grpc.Server();
  readonly #segmentEveryMs: number;
  port = 0;

  constructor(segmentEveryMs = 250) {
    this.#segmentEveryMs = segmentEveryMs;
  }

  async start(): Promise<string> {
    this.#server.addService(grpcServiceDefinition(SpeechRecognizer), {
      recognize: (call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>) => this.#recognize(call),
      getWorkerInfo: (_: unknown, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, create(WorkerInfoSchema, { workerId: "latency-probe", engine: "latency-probe", maxStreams: 10_000 })),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    return `127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.#server.forceShutdown();
  }

  #recognize(call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>): void {
    let stream: ProbeStream | undefined;
    let n = 0;
    const timer = setInterval(() => {
      if (!stream) return;
      const text = `probe ${n} ${stream.sessionId}`;
      this.segmentSentAt.set(text, performance.now());
      call.write(
        create(RecognizeResponseSchema, { kind: { case: "segment", value: { segmentId: n, isFinal: false, text } } }),
      );
      n++;
    }, this.#segmentEveryMs);
    call.on("data", (request: RecognizeRequest) => {
      const now = performance.now();
      if (request.kind.case === "config") {
        stream = { sessionId: request.kind.value.sessionId, chunkArrivals: new Map() };
        this.streams.set(stream.sessionId, stream);
        call.write(create(RecognizeResponseSchema, { kind: { case: "ready", value: { engine: "latency-probe" } } }));
      } else if (request.kind.case === "audio" && stream) {
        const { offsetSamples, pcm } = request.kind.value;
        // Every 20 ms frame in the chunk arrived now (batched frames wait for the batch).
        const first = Math.ceil(offsetSamples / 320);
        const end = Math.floor((offsetSamples + pcm.byteLength / 2) / 320);
        for (let frame = first; frame < end; frame++) stream.chunkArrivals.set(frame, now);
      } else if (request.kind.case === "end") {
        call.end();
      }
    });
    const stop = () => clearInterval(timer);
    call.on("end", stop);
    call.on("error", stop);
    call.on("cancelled", stop);
  }
}
