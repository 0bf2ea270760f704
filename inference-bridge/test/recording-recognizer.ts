// A test double of a speech worker, speaking the real gRPC protocol: it
// records every request it receives and answers with scripted acks and
// segments. Used to check the bridge's replay contract exactly; the real
// Python worker is exercised in asr-worker.int.test.ts.

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

export interface RecordedStream {
  requests: RecognizeRequest[];
  call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>;
  ended: boolean;
}

export class RecordingRecognizer {
  readonly streams: RecordedStream[] = [];
  /** Commit audio every this many samples (a final segment each time). */
  commitEverySamples = 16_000;
  /** What GetWorkerInfo reports: its stream limit, and streams other nodes have open. */
  maxStreams = 100;
  othersActive = 0;
  /**
   * The languages GetWorkerInfo lists; a config in another (primary)
   * language is refused with INVALID_ARGUMENT, as the Python worker does.
   * Empty (the default): none listed, any taken.
   */
  languages: string[] = [];
  /** Send finals without their acks (as a worker that dies between the two). */
  withholdAcks = false;
  /**
   * Acknowledge every audio message up to where this stream began, with no
   * final (as a worker that commits the noise before the words).
   */
  acksWithoutFinals = false;
  /** Acknowledge this many samples beyond what was received (a buggy worker). */
  overAckSamples = 0;
  /** Ignore the client's end (as a worker whose decoder hangs at the end): no finals, the call stays open. */
  ignoreEnd = false;
  /** Answer every config with this status (as a worker refusing the client's request or token). */
  refuseWith: grpc.status | undefined;
  /** WorkerInfo.lag_ms: the partial lag the worker reports. */
  lagMs = 0;
  /**
   * Why the worker serves nothing now (as the Python worker whose engine is stuck): GetWorkerInfo and
   * new streams are answered UNAVAILABLE with this text. Undefined: it serves.
   */
  unavailable: string | undefined;
  /**
   * Partials: after each audio chunk, the end_ms of a partial to send (given
   * the samples received so far), or undefined for none.
   */
  partialEndMs: ((receivedSamples: number) => number | undefined) | undefined;
  /** The text of a partial (default `partial <id>`). */
  partialText: (segmentId: number, startMs: number, endMs: number) => string = (id) => `partial ${id}`;
  readonly #server = new grpc.Server();
  port = 0;

  async start(port = 0): Promise<void> {
    this.#server.addService(grpcServiceDefinition(SpeechRecognizer), {
      recognize: (call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>) => this.#recognize(call),
      getWorkerInfo: (_call: unknown, callback: grpc.sendUnaryData<unknown>) =>
        this.unavailable !== undefined
          ? callback({ code: grpc.status.UNAVAILABLE, details: this.unavailable })
          : callback(
              null,
              create(WorkerInfoSchema, {
                workerId: "recording",
                engine: "recording-test-double",
                maxStreams: this.maxStreams,
                activeStreams: this.othersActive + this.streams.filter((s) => !s.call.cancelled && !s.ended).length,
                languages: this.languages,
                lagMs: this.lagMs,
              }),
            ),
    });
    this.port = await new Promise<number>((resolve, reject) =>
      this.#server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Dies like a crashed worker: every open stream breaks. */
  kill(): void {
    this.#server.forceShutdown();
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.#server.tryShutdown(() => resolve()));
  }

  /** parley_asr/session.py pick_language's rule: the same primary language, or none asked. */
  #speaks(language: string): boolean {
    const primary = (tag: string) => tag.split("-")[0]!.toLowerCase();
    return !language || this.languages.length === 0 || this.languages.some((l) => primary(l) === primary(language));
  }

  #recognize(call: grpc.ServerDuplexStream<RecognizeRequest, RecognizeResponse>): void {
    const stream: RecordedStream = { requests: [], call, ended: false };
    call.on("finish", () => (stream.ended = true));
    call.on("cancelled", () => (stream.ended = true));
    this.streams.push(stream);
    let segmentId = 0;
    let start = 0;
    let received = 0;
    call.on("data", (request: RecognizeRequest) => {
      // Bytes fields are views into grpc-js's receive buffer: keep a copy.
      if (request.kind.case === "audio") request.kind.value.pcm = Uint8Array.from(request.kind.value.pcm);
      stream.requests.push(request);
      const kind = request.kind;
      if (kind.case === "config" && (this.refuseWith !== undefined || this.unavailable !== undefined)) {
        const code = this.refuseWith ?? grpc.status.UNAVAILABLE;
        call.emit("error", { code, details: this.unavailable ?? "refused by the test double" });
        return;
      }
      if (kind.case === "config" && !this.#speaks(kind.value.language)) {
        const listed = this.languages.join(", ");
        call.emit("error", {
          code: grpc.status.INVALID_ARGUMENT,
          details: `language '${kind.value.language}' is not supported by this worker (${listed})`,
        });
        return;
      }
      if (kind.case === "config") {
        segmentId = kind.value.firstSegmentId;
        start = received = kind.value.startOffsetSamples;
        call.write(
          create(RecognizeResponseSchema, { kind: { case: "ready", value: { engine: "recording-test-double" } } }),
        );
      } else if (kind.case === "audio") {
        received = kind.value.offsetSamples + kind.value.pcm.byteLength / 2;
        if (this.acksWithoutFinals)
          call.write(
            create(RecognizeResponseSchema, { kind: { case: "ack", value: { committedOffsetSamples: start } } }),
          );
        const partialEnd = this.partialEndMs?.(received);
        if (partialEnd !== undefined)
          call.write(
            create(RecognizeResponseSchema, {
              kind: {
                case: "segment",
                value: {
                  segmentId,
                  isFinal: false,
                  text: this.partialText(segmentId, start / 16, partialEnd),
                  startMs: start / 16,
                  endMs: partialEnd,
                },
              },
            }),
          );
        if (received - start >= this.commitEverySamples) {
          call.write(
            create(RecognizeResponseSchema, {
              kind: {
                case: "segment",
                value: {
                  segmentId,
                  isFinal: true,
                  speechFinal: true,
                  text: `audio ${start / 16}-${received / 16} ms`, // a transcript of what it heard
                  startMs: start / 16,
                  endMs: received / 16,
                },
              },
            }),
          );
          if (!this.withholdAcks)
            call.write(
              create(RecognizeResponseSchema, {
                kind: { case: "ack", value: { committedOffsetSamples: received + this.overAckSamples } },
              }),
            );
          segmentId++;
          start = received;
        }
      } else if (kind.case === "end" && !this.ignoreEnd) {
        call.end();
      }
    });
    call.on("error", () => {});
  }
}
