// Splits the bytes of a gRPC response body (HTTP/2 DATA, in chunks of any
// size) into its length-prefixed messages: a flag byte (1 = compressed), a
// uint32 big-endian length, the message. A message is handed out as a view
// of the chunk it arrived in when it lies within one, else of a buffer that
// joins the pieces.
import { GRPC_PREFIX_BYTES } from "@parley/proto/asr-wire";

/** The body broke the framing: a compressed message (none was asked for) or one over the size limit. */
export class GrpcFramingError extends Error {
  constructor(
    message: string,
    /** The gRPC status the call ends with. */
    readonly code: number,
  ) {
    super(message);
    this.name = "GrpcFramingError";
  }
}

const INTERNAL = 13;
const RESOURCE_EXHAUSTED = 8;

export class GrpcMessageReader {
  readonly #maxMessageBytes: number;
  /** Bytes of an incomplete message (its prefix included), waiting for the rest. */
  #partial: Buffer | undefined;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  /** Whether bytes of an unfinished message are held (a body that ends here was cut short). */
  get midMessage(): boolean {
    return this.#partial !== undefined;
  }

  /** Feeds one chunk; calls `onMessage` for each complete message, in order. Throws GrpcFramingError. */
  push(chunk: Buffer, onMessage: (message: Buffer) => void): void {
    let bytes = chunk;
    if (this.#partial) {
      bytes = Buffer.concat([this.#partial, chunk]);
      this.#partial = undefined;
    }
    let at = 0;
    while (bytes.length - at >= GRPC_PREFIX_BYTES) {
      const length = bytes.readUInt32BE(at + 1);
      if (bytes[at] !== 0)
        throw new GrpcFramingError("a compressed message arrived, but no compression was accepted", INTERNAL);
      if (length > this.#maxMessageBytes)
        throw new GrpcFramingError(
          `a message of ${length} bytes exceeds the limit of ${this.#maxMessageBytes}`,
          RESOURCE_EXHAUSTED,
        );
      const end = at + GRPC_PREFIX_BYTES + length;
      if (end > bytes.length) break;
      onMessage(bytes.subarray(at + GRPC_PREFIX_BYTES, end));
      at = end;
    }
    // A view: HTTP/2 hands every chunk over in a buffer of its own, never reused.
    if (at < bytes.length) this.#partial = bytes.subarray(at);
  }
}
