// The hand encoder of the per-frame audio message writes exactly the bytes
// protobuf-es writes, and the grpc-js serializer uses it only for audio.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { encodeAudioFrame, encodeAudioRequest, grpcFrame } from "../src/asrAudioWire.ts";
import { RecognizeRequestSchema, SpeechRecognizer } from "../src/gen/parley/asr/v1/asr_pb.ts";
import { grpcServiceDefinition } from "../src/grpc.ts";

const reference = (offsetSamples: number, pcm: Uint8Array, capturedAtMs: number) =>
  toBinary(
    RecognizeRequestSchema,
    create(RecognizeRequestSchema, { kind: { case: "audio", value: { offsetSamples, pcm, capturedAtMs } } }),
  );

const pcmOf = (bytes: number) => Uint8Array.from({ length: bytes }, (_, i) => (i * 37 + 11) & 0xff);

describe("hand-encoded RecognizeRequest{audio}", () => {
  const cases: [string, number, Uint8Array, number][] = [
    ["a 20 ms frame", 16_000 * 61, pcmOf(640), performance.now() + 1_700_000_000_000],
    ["offset 0 (omitted field)", 0, pcmOf(640), 12.5],
    ["capturedAt 0 (omitted field)", 320, pcmOf(640), 0],
    ["an empty chunk", 1, new Uint8Array(0), 3],
    ["everything default", 0, new Uint8Array(0), 0],
    ["a 100 ms batch (2-byte length)", 127, pcmOf(3200), 1.25],
    ["1 s (3-byte length)", 0x3fff, pcmOf(32_000), -1],
    ["the largest uint32 offset", 0xffffffff, pcmOf(2), Number.MAX_VALUE],
    ["offset at varint boundaries", 0x80, pcmOf(127), 0.1],
    ["offset at 2^28", 0x10000000, pcmOf(128), 1e-300],
  ];
  for (const [name, offset, pcm, capturedAt] of cases)
    it(`writes the bytes protobuf-es writes: ${name}`, () => {
      const ours = encodeAudioRequest(offset, pcm, capturedAt);
      expect(Buffer.compare(ours, Buffer.from(reference(offset, pcm, capturedAt)))).toBe(0);
      const back = fromBinary(RecognizeRequestSchema, ours);
      expect(back.kind.case).toBe("audio");
      if (back.kind.case === "audio") {
        expect(back.kind.value.offsetSamples).toBe(offset);
        expect(back.kind.value.capturedAtMs).toBe(capturedAt);
        expect(Buffer.compare(Buffer.from(back.kind.value.pcm), Buffer.from(pcm))).toBe(0);
      }
    });

  for (const [name, offset, pcm, capturedAt] of cases)
    it(`frames it as one gRPC message (flag 0, uint32 length, the message): ${name}`, () => {
      const message = Buffer.from(reference(offset, pcm, capturedAt));
      const frame = encodeAudioFrame(offset, pcm, capturedAt);
      expect(frame[0]).toBe(0);
      expect(frame.readUInt32BE(1)).toBe(message.length);
      expect(Buffer.compare(frame.subarray(5), message)).toBe(0);
      expect(Buffer.compare(grpcFrame(message), frame)).toBe(0);
    });

  it("is what the gRPC serializer sends for audio, and protobuf-es still encodes the other kinds", () => {
    const serialize = grpcServiceDefinition(SpeechRecognizer).recognize!.requestSerialize;
    const audio = create(RecognizeRequestSchema, {
      kind: { case: "audio", value: { offsetSamples: 640, pcm: pcmOf(640), capturedAtMs: 99.5 } },
    });
    expect(Buffer.compare(serialize(audio), Buffer.from(toBinary(RecognizeRequestSchema, audio)))).toBe(0);
    const config = create(RecognizeRequestSchema, {
      kind: { case: "config", value: { sessionId: "s", sampleRateHz: 16_000, startOffsetSamples: 5 } },
    });
    expect(Buffer.compare(serialize(config), Buffer.from(toBinary(RecognizeRequestSchema, config)))).toBe(0);
    const end = create(RecognizeRequestSchema, { kind: { case: "end", value: {} } });
    expect(Buffer.compare(serialize(end), Buffer.from(toBinary(RecognizeRequestSchema, end)))).toBe(0);
  });
});
