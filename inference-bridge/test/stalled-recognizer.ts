// A test double of a speech worker that accepts Recognize calls and then
// stops reading them, as an overloaded worker would: raw HTTP/2, so that
// flow control really fills up (a grpc-js server keeps reading into its own
// buffers even when its stream is paused). Used to check that the bridge
// stops writing instead of buffering without bound.
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { type RecognizeRequest, RecognizeRequestSchema } from "@parley/proto/asr";

export class StalledRecognizer {
  readonly streams: http2.ServerHttp2Stream[] = [];
  readonly #server = http2.createServer();
  readonly #sessions = new Set<http2.ServerHttp2Session>();

  async start(): Promise<void> {
    this.#server.on("session", (session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
    });
    this.#server.on("stream", (stream) => {
      stream.pause(); // nothing is read: the HTTP/2 window fills, then the client must wait
      stream.on("error", () => {});
      this.streams.push(stream);
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
    });
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  }

  get address(): string {
    return `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** The first gRPC message of a stream (its config), read now. */
  async firstRequest(stream: http2.ServerHttp2Stream): Promise<RecognizeRequest> {
    let buffered = Buffer.alloc(0);
    stream.resume();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) break;
    }
    return fromBinary(RecognizeRequestSchema, buffered.subarray(5, 5 + buffered.readUInt32BE(1)));
  }

  stop(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
