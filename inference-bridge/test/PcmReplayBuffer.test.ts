import { describe, expect, it } from "vitest";
import { PcmReplayBuffer } from "../src/PcmReplayBuffer.ts";

const chunk = (value: number, samples = 4) => new Int16Array(samples).fill(value);

describe("PcmReplayBuffer", () => {
  it("keeps uncommitted chunks and returns their bytes", () => {
    const buffer = new PcmReplayBuffer(100);
    const a = buffer.push(chunk(1), 0, 0);
    buffer.push(chunk(2), 4, 0);
    expect(Array.from(new Int16Array(buffer.view(a).slice().buffer))).toEqual([1, 1, 1, 1]);
    buffer.commit(4);
    expect([...buffer.chunks()].map((c) => c.offsetSamples)).toEqual([4]);
  });

  it("views a chunk from a sample inside it", () => {
    const buffer = new PcmReplayBuffer(100);
    const c = buffer.push(new Int16Array([10, 11, 12, 13]), 8, 0);
    expect(Array.from(new Int16Array(buffer.view(c, 10).slice().buffer))).toEqual([12, 13]);
  });

  it("copies the caller's samples (the decoder reuses its buffer)", () => {
    const buffer = new PcmReplayBuffer(100);
    const source = chunk(7);
    const c = buffer.push(source, 0, 0);
    source.fill(0);
    expect(new Int16Array(buffer.view(c).slice().buffer)[0]).toBe(7);
  });

  it("wraps around and counts audio it had to drop uncommitted", () => {
    const buffer = new PcmReplayBuffer(10); // 20 bytes
    for (let i = 0; i < 5; i++) buffer.push(chunk(i), i * 4, 0);
    expect(buffer.overflowSamples).toBeGreaterThan(0);
    const live = [...buffer.chunks()];
    // The newest chunks survive, in order, with intact contents.
    expect(live.at(-1)!.offsetSamples).toBe(16);
    for (const c of live) expect(new Int16Array(buffer.view(c).slice().buffer)[0]).toBe(c.offsetSamples / 4);
  });

  it("never overwrites a held chunk, whatever the chunk sizes (wraps that leave a tail)", () => {
    // Chunks of uneven size (the decoder's silence fill, trimmed packets), commits now and then:
    // every chunk still held must read back its own samples.
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    for (let run = 0; run < 50; run++) {
      const buffer = new PcmReplayBuffer(64);
      let offset = 0;
      for (let i = 1; i <= 200; i++) {
        const samples = 1 + random(20);
        buffer.push(chunk(i % 30_000, samples), offset, 0);
        offset += samples;
        if (random(12) === 0) buffer.commit(offset - random(100));
        let previousEnd: number | undefined;
        for (const c of buffer.chunks()) {
          const id = new Int16Array(buffer.view(c).slice().buffer);
          expect(id.every((v) => v === id[0])).toBe(true);
          // Held chunks are consecutive audio: none was lost from the middle.
          if (previousEnd !== undefined) expect(c.offsetSamples).toBe(previousEnd);
          previousEnd = c.offsetSamples + c.samples;
        }
        const ids = [...buffer.chunks()].map((c) => new Int16Array(buffer.view(c).slice().buffer)[0]);
        expect(ids).toEqual([...ids].sort((a, b) => a! - b!));
        expect(new Set(ids).size).toBe(ids.length);
      }
    }
  });

  it("finds the capture time of the audio just before a sample, while it is held", () => {
    const buffer = new PcmReplayBuffer(100);
    buffer.push(chunk(0), 0, 10);
    buffer.push(chunk(0), 4, 20);
    buffer.push(chunk(0), 8, 30);
    expect(buffer.capturedAtEnd(0)).toBeUndefined();
    expect(buffer.capturedAtEnd(1)).toBe(10);
    expect(buffer.capturedAtEnd(4)).toBe(10);
    expect(buffer.capturedAtEnd(5)).toBe(20);
    expect(buffer.capturedAtEnd(12)).toBe(30);
    expect(buffer.capturedAtEnd(13)).toBeUndefined();
    buffer.commit(4);
    expect(buffer.capturedAtEnd(4)).toBeUndefined();
    expect(buffer.capturedAtEnd(8)).toBe(20);
  });
});
