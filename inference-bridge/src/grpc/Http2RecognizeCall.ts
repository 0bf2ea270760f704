// One Recognize call (the conversation's gRPC bidi stream) spoken directly
// over node:http2, without grpc-js. Audio goes out 50 times a second per
// conversation, and grpc-js's per-message machinery (a filter stack with a
// promise per message, object-mode streams, a retry buffer) cost about twice
// the HTTP/2 write itself. On the wire nothing changes, and the worker cannot
// tell the clients apart (inference-bridge/test/Http2RecognizeCall.test.ts
// compares the bytes): a POST to /parley.asr.v1.SpeechRecognizer/Recognize
// with content-type application/grpc, te: trailers, grpc-timeout and the
// authorization header, length-prefixed protobuf messages both ways, and the
// call's status in the grpc-status / grpc-message trailers.
//
// The surface is the part of grpc-js's ClientDuplexStream that the bridge
// uses: write/end/cancel, writableLength, and 'data', 'error' (code and
// details, as grpc-js's ServiceError), 'end' (status OK) and 'drain' events.
import { EventEmitter } from "node:events";
import http2 from "node:http2";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type RecognizeRequest,
  RecognizeRequestSchema,
  type RecognizeResponse,
  RecognizeResponseSchema,
  SpeechRecognizer,
} from "@parley/proto/asr";
import { encodeAudioFrame, grpcFrame } from "@parley/proto/asr-wire";
import { GrpcFramingError, GrpcMessageReader } from "./GrpcMessageReader.ts";
import {
  type CallStatus,
  GrpcCallError,
  grpcTimeout,
  Status,
  statusFromHttp,
  statusFromRstCode,
  statusFromTrailers,
} from "./grpcStatus.ts";
import type { Http2GrpcChannel } from "./Http2GrpcChannel.ts";

const RECOGNIZE_PATH = `/${SpeechRecognizer.typeName}/${SpeechRecognizer.method.recognize.name}`;
/** grpc-js's default limit for a received message. */
const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Messages not yet handed to HTTP/2 before write() says "wait for 'drain'". */
const HIGH_WATER_MESSAGES = 32;
const USER_AGENT = `parley-bridge (node:http2; node ${process.versions.node})`;

export interface RecognizeCallEvents {
  data: [response: RecognizeResponse];
  error: [error: GrpcCallError];
  /** The worker ended the call with status OK. */
  end: [];
  /** Every message written so far has gone out to HTTP/2 (after a write returned false). */
  drain: [];
}

export interface RecognizeCallOptions {
  /** The call's deadline, from now: sent as grpc-timeout and enforced here too. */
  deadlineMs: number;
  /** Sent as the authorization header (`Bearer <token>`). */
  authorization?: string;
}

export class Http2RecognizeCall extends EventEmitter<RecognizeCallEvents> {
  #stream: http2.ClientHttp2Stream | undefined;
  #session: http2.Http2Session | undefined;
  readonly #reader = new GrpcMessageReader(MAX_RESPONSE_BYTES);
  readonly #deadline: NodeJS.Timeout;
  /** Messages written and not yet taken by HTTP/2 (flow control lets them out). */
  #pending = 0;
  #needDrain = false;
  /** From the trailers, a trailers-only response, or a non-gRPC HTTP status. */
  #status: CallStatus | undefined;
  /** The first error the HTTP/2 stream reported (a broken connection, a reset). */
  #streamError: (Error & { code?: string }) | undefined;
  /** 'end' or 'error' was emitted, or the call was cancelled: nothing more is emitted. */
  #finished = false;
  /** Our half of the stream is closed. */
  #ended = false;
  /** One callback for every write, no closure per message. */
  readonly #onWritten = (): void => {
    if (--this.#pending === 0 && this.#needDrain) {
      this.#needDrain = false;
      if (!this.#finished) this.emit("drain");
    }
  };
  /** Per received message. */
  readonly #onMessage = (bytes: Buffer): void => {
    let response: RecognizeResponse;
    try {
      response = fromBinary(RecognizeResponseSchema, bytes);
    } catch (err) {
      throw new GrpcFramingError(`undecodable RecognizeResponse: ${(err as Error).message}`, Status.INTERNAL);
    }
    if (!this.#finished) this.emit("data", response);
  };

  constructor(channel: Http2GrpcChannel, options: RecognizeCallOptions) {
    super();
    this.#deadline = setTimeout(
      () => this.#fail({ code: Status.DEADLINE_EXCEEDED, details: "Deadline exceeded" }),
      options.deadlineMs,
    );
    this.#deadline.unref();
    const headers: http2.OutgoingHttpHeaders = {
      [http2.constants.HTTP2_HEADER_METHOD]: "POST",
      [http2.constants.HTTP2_HEADER_PATH]: RECOGNIZE_PATH,
      [http2.constants.HTTP2_HEADER_CONTENT_TYPE]: "application/grpc",
      te: "trailers",
      "grpc-timeout": grpcTimeout(options.deadlineMs),
      "grpc-accept-encoding": "identity",
      "user-agent": USER_AGENT,
      ...(options.authorization ? { authorization: options.authorization } : {}),
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = channel.request(headers);
    } catch (err) {
      // No stream at all (channel closed, connection going away): fail as grpc-js
      // does, asynchronously, once the caller has attached its listeners.
      const details = `No connection to ${channel.address}: ${(err as Error).message}`;
      process.nextTick(() => this.#finish({ code: Status.UNAVAILABLE, details }));
      return;
    }
    this.#stream = stream;
    this.#session = stream.session;
    stream.on("response", (h) => this.#onHeaders(h));
    stream.on("data", (chunk: Buffer) => this.#onData(chunk));
    stream.on("trailers", (h) => {
      this.#status ??= statusFromTrailers(h) ?? { code: Status.UNKNOWN, details: "No status received" };
    });
    // The body is complete; the status came before it (trailers precede the end).
    stream.on("end", () => {
      if (this.#status) this.#finish(this.#status);
    });
    stream.on("error", (err: Error) => {
      this.#streamError ??= err;
    });
    stream.on("close", () => this.#onClose(stream));
  }

  /** Messages written and not yet taken by HTTP/2: what grpc-js calls its writable length. */
  get writableLength(): number {
    return this.#pending;
  }

  /** Sends one request (audio goes through the hand encoder). False: wait for 'drain'. */
  write(request: RecognizeRequest): boolean {
    if (request.kind.case === "audio") {
      const { offsetSamples, pcm, capturedAtMs } = request.kind.value;
      return this.#send(encodeAudioFrame(offsetSamples, pcm, capturedAtMs));
    }
    return this.#send(grpcFrame(toBinary(RecognizeRequestSchema, request)));
  }

  /** Sends RecognizeRequest{audio} without building the message object: the per-frame path. */
  writeAudio(offsetSamples: number, pcm: Uint8Array, capturedAtMs: number): boolean {
    return this.#send(encodeAudioFrame(offsetSamples, pcm, capturedAtMs));
  }

  /** No more requests (half-close): the worker finishes and ends the call. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    if (!this.#finished) this.#stream?.end();
  }

  /**
   * Abandons the call (RST_STREAM CANCEL). As with grpc-js, an 'error'
   * CANCELLED follows, but only for a caller still listening for errors.
   */
  cancel(): void {
    this.#ended = true;
    if (!this.#stream?.closed) this.#stream?.close(http2.constants.NGHTTP2_CANCEL);
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#deadline);
    process.nextTick(() => {
      if (this.listenerCount("error") > 0)
        this.emit("error", new GrpcCallError(Status.CANCELLED, "Cancelled on client"));
    });
  }

  #send(frame: Buffer): boolean {
    const stream = this.#stream;
    if (this.#ended || this.#finished || !stream) return false;
    this.#pending++;
    stream.write(frame, this.#onWritten);
    if (this.#pending < HIGH_WATER_MESSAGES) return true;
    this.#needDrain = true;
    return false;
  }

  #onHeaders(headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader): void {
    // Trailers-only: the worker refused the call before any message (auth, capacity).
    const trailersOnly = statusFromTrailers(headers);
    if (trailersOnly) {
      this.#status = trailersOnly;
      return;
    }
    const httpStatus = Number(headers[http2.constants.HTTP2_HEADER_STATUS]);
    if (httpStatus !== 200) {
      this.#fail(statusFromHttp(httpStatus));
      return;
    }
    const contentType = String(headers[http2.constants.HTTP2_HEADER_CONTENT_TYPE] ?? "");
    if (!contentType.startsWith("application/grpc"))
      this.#fail({ code: Status.UNKNOWN, details: `Received invalid content-type "${contentType}"` });
  }

  #onData(chunk: Buffer): void {
    if (this.#finished) return;
    try {
      this.#reader.push(chunk, this.#onMessage);
    } catch (err) {
      if (!(err instanceof GrpcFramingError)) throw err; // a listener's own error is not the worker's
      this.#fail({ code: err.code, details: err.message });
    }
  }

  #onClose(stream: http2.ClientHttp2Stream): void {
    if (this.#finished) return;
    if (this.#status) {
      const cutShort = this.#status.code === Status.OK && this.#reader.midMessage;
      this.#finish(cutShort ? { code: Status.INTERNAL, details: "The response ended inside a message" } : this.#status);
      return;
    }
    const session = this.#session;
    const error = this.#streamError;
    if (session?.destroyed || session?.closed || (error && error.code !== "ERR_HTTP2_STREAM_ERROR")) {
      // The connection failed or went away under the call (grpc-js: "Connection dropped").
      const why = error?.message ?? "connection closed";
      this.#finish({ code: Status.UNAVAILABLE, details: `Connection dropped: ${why}` });
      return;
    }
    this.#finish(statusFromRstCode(stream.rstCode ?? http2.constants.NGHTTP2_INTERNAL_ERROR));
  }

  /** A failure seen on our side: the call ends with `status` and the stream is reset. */
  #fail(status: CallStatus): void {
    if (this.#finished) return;
    this.#ended = true;
    if (this.#stream && !this.#stream.closed) this.#stream.close(http2.constants.NGHTTP2_CANCEL);
    this.#finish(status);
  }

  #finish(status: CallStatus): void {
    if (this.#finished) return;
    this.#finished = true;
    clearTimeout(this.#deadline);
    if (status.code === Status.OK) this.emit("end");
    else this.emit("error", new GrpcCallError(status.code, status.details));
  }
}
