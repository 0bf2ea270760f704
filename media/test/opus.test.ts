import { Decoder, Encoder } from "@evan/opus";
import { describe, expect, it } from "vitest";
import { OpusPcmDecoder, OUTPUT_SAMPLE_RATE, opusBackend } from "../src/opus.ts";

/** 20 ms Opus packets of a rising chirp at 16 kHz. */
function chirpPackets(count: number): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: OUTPUT_SAMPLE_RATE, application: "voip" });
  const packets: Uint8Array[] = [];
  for (let p = 0; p < count; p++) {
    const frame = new Int16Array(320);
    for (let i = 0; i < frame.length; i++) {
      const t = (p * 320 + i) / OUTPUT_SAMPLE_RATE;
      frame[i] = Math.round(8000 * Math.sin(2 * Math.PI * (200 + 400 * t) * t));
    }
    packets.push(encoder.encode(new Uint8Array(frame.buffer)).slice());
  }
  return packets;
}

describe("OpusPcmDecoder", () => {
  it("decodes to the same samples as the package's decoder", () => {
    const packets = chirpPackets(50);
    const ours = new OpusPcmDecoder();
    const reference = new Decoder({ channels: 1, sample_rate: OUTPUT_SAMPLE_RATE });
    for (const packet of packets) {
      const expected = new Int16Array(reference.decode(packet).slice().buffer);
      const got = ours.decode(packet);
      expect(got.length).toBe(320);
      expect(Array.from(got)).toEqual(Array.from(expected));
    }
  });

  it("hands out one view of the shared buffer, not a copy per packet", () => {
    expect(opusBackend()).toBe("native"); // the package ships the x64-linux build these machines run
    const packets = chirpPackets(3);
    const decoder = new OpusPcmDecoder();
    const first = decoder.decode(packets[0]!);
    const firstSamples = Array.from(first);
    const second = decoder.decode(packets[1]!);
    expect(second).toBe(first);
    expect(Array.from(second)).not.toEqual(firstSamples); // the view now shows the newer frame
  });

  it("conceals a lost frame as libopus does (its PLC), once it has a voice to carry on", () => {
    const packets = chirpPackets(20);
    const ours = new OpusPcmDecoder();
    const reference = new Decoder({ channels: 1, sample_rate: OUTPUT_SAMPLE_RATE });
    expect(ours.conceal()).toBeUndefined(); // nothing decoded yet
    for (const packet of packets.slice(0, 10)) {
      ours.decode(packet);
      reference.decode(packet);
    }
    const concealed = Array.from(ours.conceal()!);
    expect(concealed.length).toBe(320);
    expect(concealed.some((s) => Math.abs(s) > 1000)).toBe(true); // the chirp carried on, not silence
    // The same as libopus's own loss handling: a packet whose frame has no bytes.
    const expected = new Int16Array(reference.decode(new Uint8Array([packets[9]![0]! & 0xfc])).slice().buffer);
    expect(concealed).toEqual(Array.from(expected));
    // And the next real packet decodes the same after it in both.
    expect(Array.from(ours.decode(packets[11]!))).toEqual(
      Array.from(new Int16Array(reference.decode(packets[11]!).slice().buffer)),
    );
    ours.reset();
    expect(ours.conceal()).toBeUndefined();
  });

  it("conceals from the last packet it could decode, not from a corrupt one", () => {
    const packets = chirpPackets(10);
    const ours = new OpusPcmDecoder();
    const reference = new Decoder({ channels: 1, sample_rate: OUTPUT_SAMPLE_RATE });
    for (const packet of packets) {
      ours.decode(packet);
      reference.decode(packet);
    }
    // Its TOC says 2.5 ms CELT frames (and code 3 with no frame count: invalid); concealing "as" it
    // would make 2.5 ms of audio a lost frame.
    expect(() => ours.decode(new Uint8Array([0x83]))).toThrow();
    const expected = new Int16Array(reference.decode(new Uint8Array([packets[9]![0]! & 0xfc])).slice().buffer);
    expect(Array.from(ours.conceal()!)).toEqual(Array.from(expected));
  });

  it("resets its state without failing", () => {
    const decoder = new OpusPcmDecoder();
    const [packet] = chirpPackets(1);
    decoder.decode(packet!);
    expect(() => decoder.reset()).not.toThrow();
    expect(decoder.decode(packet!).length).toBe(320);
  });
});
