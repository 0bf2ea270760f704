// Builds real Opus RTP packet sequences for tests and benchmarks.
import { Encoder } from "@evan/opus";

export const FRAME_SAMPLES_48K = 960; // 20 ms

/** 20 ms frames of a 48 kHz signal where `isTone(frameIndex)` frames carry a 1 kHz tone, others silence. */
export function encodeFrames(frameCount: number, isTone: (frame: number) => boolean): Uint8Array[] {
  const encoder = new Encoder({ channels: 1, sample_rate: 48_000, application: "voip" });
  const pcm = new Int16Array(FRAME_SAMPLES_48K);
  const packets: Uint8Array[] = [];
  for (let f = 0; f < frameCount; f++) {
    const tone = isTone(f);
    for (let i = 0; i < FRAME_SAMPLES_48K; i++) {
      pcm[i] = tone ? Math.round(12_000 * Math.sin((2 * Math.PI * 1000 * (f * FRAME_SAMPLES_48K + i)) / 48_000)) : 0;
    }
    packets.push(encoder.encode(pcm).slice());
  }
  return packets;
}

export function rtpPacket(seq: number, timestamp: number, payload: Uint8Array, ssrc = 0x1234_5678): Uint8Array {
  const packet = new Uint8Array(12 + payload.byteLength);
  packet[0] = 0x80;
  packet[1] = 111;
  packet[2] = (seq >> 8) & 0xff;
  packet[3] = seq & 0xff;
  new DataView(packet.buffer).setUint32(4, timestamp >>> 0);
  new DataView(packet.buffer).setUint32(8, ssrc >>> 0);
  packet.set(payload, 12);
  return packet;
}
