// The speech-recognition workers this node may use. Streams go to the
// healthy worker with the fewest active streams; a worker whose stream broke
// with a transport error sits out for a while before it is tried again.

import type { MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import {
  type GetWorkerInfoRequest,
  type RecognizeRequest,
  type RecognizeResponse,
  SpeechRecognizer,
  type WorkerInfoSchema,
} from "@parley/proto/asr";
import { grpcServiceDefinition } from "@parley/proto/grpc";
import type { Logger } from "pino";

type WorkerInfo = MessageShape<typeof WorkerInfoSchema>;

const SpeechRecognizerClient = grpc.makeGenericClientConstructor(
  grpcServiceDefinition(SpeechRecognizer),
  "SpeechRecognizer",
);

export type RecognizeCall = grpc.ClientDuplexStream<RecognizeRequest, RecognizeResponse>;

export class AsrWorker {
  readonly address: string;
  activeStreams = 0;
  #downUntil = 0;
  readonly #client: grpc.Client;

  constructor(address: string) {
    this.address = address;
    this.#client = new SpeechRecognizerClient(address, grpc.credentials.createInsecure(), {
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2_000,
      // RecognitionStream does its own resume from committed audio; grpc-js's
      // transparent retries would only buffer a copy of every audio message.
      "grpc.enable_retries": 0,
    });
  }

  get healthy(): boolean {
    return Date.now() >= this.#downUntil;
  }

  markDown(ms: number): void {
    this.#downUntil = Date.now() + ms;
  }

  markUp(): void {
    this.#downUntil = 0;
  }

  recognize(deadlineMs: number): RecognizeCall {
    const method = (this.#client as unknown as { recognize: (o: grpc.CallOptions) => RecognizeCall }).recognize;
    return method.call(this.#client, { deadline: Date.now() + deadlineMs });
  }

  info(timeoutMs: number): Promise<WorkerInfo> {
    const method = (
      this.#client as unknown as {
        getWorkerInfo: (
          r: GetWorkerInfoRequest,
          o: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, v?: WorkerInfo) => void,
        ) => void;
      }
    ).getWorkerInfo;
    return new Promise((resolve, reject) => {
      method.call(
        this.#client,
        { $typeName: "parley.asr.v1.GetWorkerInfoRequest" },
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err || !value ? reject(err ?? new Error("empty reply")) : resolve(value)),
      );
    });
  }

  close(): void {
    this.#client.close();
  }
}

export interface AsrWorkerPoolOptions {
  addresses: string[];
  logger: Logger;
  /** How long a worker that failed sits out. */
  downForMs?: number;
}

export class AsrWorkerPool {
  readonly workers: AsrWorker[];
  readonly #logger: Logger;
  readonly #downForMs: number;

  constructor(options: AsrWorkerPoolOptions) {
    this.workers = options.addresses.map((a) => new AsrWorker(a));
    this.#logger = options.logger;
    this.#downForMs = options.downForMs ?? 2_000;
  }

  /** The healthy worker with the fewest streams, else the one that has been down longest. */
  pick(exclude?: AsrWorker): AsrWorker | undefined {
    let best: AsrWorker | undefined;
    for (const w of this.workers) {
      if (!w.healthy || w === exclude) continue;
      if (!best || w.activeStreams < best.activeStreams) best = w;
    }
    return best ?? this.workers.find((w) => w !== exclude) ?? this.workers[0];
  }

  reportFailure(worker: AsrWorker, error: unknown): void {
    worker.markDown(this.#downForMs);
    this.#logger.warn({ worker: worker.address, err: error }, "speech worker marked down");
  }

  /** Readiness: which workers answer GetWorkerInfo now. */
  async probe(timeoutMs = 1_000): Promise<{ address: string; ok: boolean; info?: WorkerInfo; error?: string }[]> {
    return Promise.all(
      this.workers.map(async (w) => {
        try {
          const info = await w.info(timeoutMs);
          w.markUp();
          return { address: w.address, ok: true, info };
        } catch (error) {
          return { address: w.address, ok: false, error: (error as Error).message };
        }
      }),
    );
  }

  close(): void {
    for (const w of this.workers) w.close();
  }
}
