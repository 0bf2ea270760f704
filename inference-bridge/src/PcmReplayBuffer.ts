// Keeps the audio a speech worker has not yet committed, so a stream that
// breaks can be resumed on another worker without skipping audio. Bytes live
// in one preallocated ring: pushing a 20 ms frame allocates only its record.

export interface PcmChunk {
  offsetSamples: number;
  samples: number;
  start: number; // byte index in the ring
  capturedAtMs: number;
}

export class PcmReplayBuffer {
  readonly #ring: Uint8Array;
  /** The same bytes as samples: chunks start on even bytes, so pushing copies without a view per frame. */
  readonly #ring16: Int16Array;
  readonly #chunks: PcmChunk[] = [];
  #head = 0; // index of the oldest live chunk in #chunks
  #writeAt = 0;
  /** Samples dropped because the ring was full of uncommitted audio. */
  overflowSamples = 0;

  constructor(capacitySamples: number) {
    this.#ring = new Uint8Array(capacitySamples * 2);
    this.#ring16 = new Int16Array(this.#ring.buffer);
  }

  get size(): number {
    return this.#chunks.length - this.#head;
  }

  /** Copies `pcm` in and returns its record; the bytes are at view(record). */
  push(pcm: Int16Array, offsetSamples: number, capturedAtMs: number): PcmChunk {
    const bytes = pcm.byteLength;
    if (bytes > this.#ring.byteLength) throw new RangeError("chunk larger than the replay buffer");
    if (this.#writeAt + bytes > this.#ring.byteLength) {
      // Wrapping: what lies after the write point is older than anything at the ring's start, and
      // chunks leave oldest first, so the tail goes before the start can be overwritten.
      this.#evictOverlapping(this.#writeAt, this.#ring.byteLength);
      this.#writeAt = 0;
    }
    this.#evictOverlapping(this.#writeAt, this.#writeAt + bytes);
    this.#ring16.set(pcm, this.#writeAt >> 1);
    const chunk: PcmChunk = { offsetSamples, samples: pcm.length, start: this.#writeAt, capturedAtMs };
    this.#writeAt += bytes;
    this.#chunks.push(chunk);
    return chunk;
  }

  /** The chunk's bytes, from sample `fromSample` (absolute) on. A view into the ring. */
  view(chunk: PcmChunk, fromSample = chunk.offsetSamples): Uint8Array {
    const skip = Math.max(0, fromSample - chunk.offsetSamples);
    return this.#ring.subarray(chunk.start + skip * 2, chunk.start + chunk.samples * 2);
  }

  /** The bytes of consecutive chunks `first`..`last` that lie back to back in the ring (see `contiguous`). */
  viewRun(first: PcmChunk, last: PcmChunk, fromSample = first.offsetSamples): Uint8Array {
    const skip = Math.max(0, fromSample - first.offsetSamples);
    return this.#ring.subarray(first.start + skip * 2, last.start + last.samples * 2);
  }

  /** Whether `next` follows `previous` directly in the ring (false where the ring wrapped). */
  contiguous(previous: PcmChunk, next: PcmChunk): boolean {
    return next.start === previous.start + previous.samples * 2;
  }

  /** Forgets every chunk that ends at or before `offsetSamples`. */
  commit(offsetSamples: number): void {
    while (this.#head < this.#chunks.length) {
      const c = this.#chunks[this.#head]!;
      if (c.offsetSamples + c.samples > offsetSamples) break;
      this.#head++;
    }
    this.#compact();
  }

  /**
   * When the audio just before absolute sample `endSample` was captured: the
   * capturedAtMs of the held chunk containing sample endSample-1; undefined
   * when that audio is no longer (or not yet) held. Binary search, no allocation.
   */
  capturedAtEnd(endSample: number): number | undefined {
    let lo = this.#head;
    let hi = this.#chunks.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = this.#chunks[mid]!;
      if (endSample <= c.offsetSamples) hi = mid - 1;
      else if (endSample > c.offsetSamples + c.samples) lo = mid + 1;
      else return c.capturedAtMs;
    }
    return undefined;
  }

  /** Absolute offset of the oldest live chunk; undefined when none is held. */
  firstOffset(): number | undefined {
    return this.#chunks[this.#head]?.offsetSamples;
  }

  /** Live chunks, oldest first. */
  *chunks(): Generator<PcmChunk> {
    for (let i = this.#head; i < this.#chunks.length; i++) yield this.#chunks[i]!;
  }

  #evictOverlapping(from: number, to: number): void {
    while (this.#head < this.#chunks.length) {
      const c = this.#chunks[this.#head]!;
      const end = c.start + c.samples * 2;
      if (end <= from || c.start >= to) break;
      this.overflowSamples += c.samples;
      this.#head++;
    }
    this.#compact();
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#chunks.length) {
      this.#chunks.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
