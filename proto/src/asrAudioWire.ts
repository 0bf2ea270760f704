// The hot message of the speech stream, encoded by hand: a RecognizeRequest
// carrying an AudioChunk goes out 50 times a second per conversation, and
// protobuf-es's reflective toBinary (field descriptors walked per message,
// a growable writer, a final concatenation) cost more than the audio path's
// own work. Its wire form is fixed and small:
//
//   0x12 len(AudioChunk)                     RecognizeRequest.audio (field 2, LEN)
//     0x08 varint(offset_samples)            field 1, omitted when 0 (proto3)
//     0x12 varint(len(pcm)) pcm              field 2, omitted when empty
//     0x19 float64le(captured_at_ms)         field 3, omitted when 0
//
// The bytes are those protobuf-es writes (proto/test/asrAudioWire.test.ts
// proves it); every other message still goes through protobuf-es.
//
// On the wire of a gRPC call each message is length-prefixed (gRPC over
// HTTP/2: a compressed flag byte, 0, and the length as uint32 big-endian):
// encodeAudioFrame writes prefix and message into one buffer, so the bridge's
// HTTP/2 client writes each frame with a single allocation and copy.
import type { RecognizeRequest } from "./gen/parley/asr/v1/asr_pb.ts";

const varintSize = (v: number) => (v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5);

function writeVarint(out: Buffer, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[at++] = v;
  return at;
}

/** The length prefix of a gRPC message: compressed flag, then uint32 big-endian length. */
export const GRPC_PREFIX_BYTES = 5;

/** RecognizeRequest{audio: AudioChunk{offsetSamples, pcm, capturedAtMs}} in protobuf binary. */
export function encodeAudioRequest(offsetSamples: number, pcm: Uint8Array, capturedAtMs: number): Buffer {
  return encodeAudio(offsetSamples, pcm, capturedAtMs, 0);
}

/** The same message as one gRPC length-prefixed message (uncompressed), ready for an HTTP/2 DATA frame. */
export function encodeAudioFrame(offsetSamples: number, pcm: Uint8Array, capturedAtMs: number): Buffer {
  return encodeAudio(offsetSamples, pcm, capturedAtMs, GRPC_PREFIX_BYTES);
}

/** A protobuf message as one gRPC length-prefixed message (uncompressed). */
export function grpcFrame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + message.byteLength);
  out[0] = 0;
  out.writeUInt32BE(message.byteLength, 1);
  out.set(message, GRPC_PREFIX_BYTES);
  return out;
}

function encodeAudio(offsetSamples: number, pcm: Uint8Array, capturedAtMs: number, prefix: number): Buffer {
  const offset = offsetSamples >>> 0; // uint32 on the wire, as protobuf-es writes it
  const pcmLength = pcm.byteLength;
  const inner =
    (offset !== 0 ? 1 + varintSize(offset) : 0) +
    (pcmLength !== 0 ? 1 + varintSize(pcmLength) + pcmLength : 0) +
    (capturedAtMs !== 0 ? 9 : 0);
  const messageLength = 1 + varintSize(inner) + inner;
  // allocUnsafe draws small buffers from Node's shared pool: no fresh allocation per message.
  const out = Buffer.allocUnsafe(prefix + messageLength);
  let at = 0;
  if (prefix !== 0) {
    out[at++] = 0; // not compressed
    out.writeUInt32BE(messageLength, at);
    at += 4;
  }
  out[at++] = 0x12;
  at = writeVarint(out, at, inner);
  if (offset !== 0) {
    out[at++] = 0x08;
    at = writeVarint(out, at, offset);
  }
  if (pcmLength !== 0) {
    out[at++] = 0x12;
    at = writeVarint(out, at, pcmLength);
    out.set(pcm, at);
    at += pcmLength;
  }
  if (capturedAtMs !== 0) {
    out[at++] = 0x19;
    out.writeDoubleLE(capturedAtMs, at);
  }
  return out;
}

/** The hand encoding when `request` is an audio chunk; undefined for the other kinds. */
export function encodeRecognizeRequestFast(request: RecognizeRequest): Buffer | undefined {
  if (request.kind.case !== "audio") return undefined;
  const { offsetSamples, pcm, capturedAtMs } = request.kind.value;
  return encodeAudioRequest(offsetSamples, pcm, capturedAtMs);
}
