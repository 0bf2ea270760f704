// The synthesisers' WAV files: mono 16-bit PCM, the samples of the "data"
// chunk. flite writes 16 kHz, espeak-ng 22050 Hz (resampled after).

export interface WavAudio {
  /** Samples per second. */
  rate: number;
  samples: Int16Array;
}

/**
 * The samples of a mono 16-bit PCM WAV file and their rate; with `rate`, the
 * file must be at that rate. A data size of "unknown" (a streamed WAV) reads
 * what is there, never half a sample.
 */
export function wavAudio(wav: Buffer, rate?: number): WavAudio {
  if (wav.toString("ascii", 0, 4) !== "RIFF" || wav.toString("ascii", 8, 12) !== "WAVE")
    throw new Error("not a WAV file");
  let at = 12;
  let format: { channels: number; rate: number; bits: number } | undefined;
  while (at + 8 <= wav.length) {
    const id = wav.toString("ascii", at, at + 4);
    const size = wav.readUInt32LE(at + 4);
    if (id === "fmt ")
      format = {
        channels: wav.readUInt16LE(at + 10),
        rate: wav.readUInt32LE(at + 12),
        bits: wav.readUInt16LE(at + 22),
      };
    if (id === "data") {
      if (format?.channels !== 1 || format.bits !== 16 || (rate !== undefined && format.rate !== rate))
        throw new Error(
          `expected ${rate === undefined ? "" : `${rate / 1000} kHz `}mono 16-bit WAV, got ${JSON.stringify(format)}`,
        );
      const end = Math.min(wav.length, at + 8 + size) & ~1;
      const copy = new Uint8Array(wav.subarray(at + 8, end)); // a copy: aligned and owned
      return { rate: format.rate, samples: new Int16Array(copy.buffer, copy.byteOffset, copy.byteLength >> 1) };
    }
    at += 8 + size + (size & 1);
  }
  throw new Error("WAV file has no data chunk");
}

/** The samples of a 16-bit PCM WAV file (the "data" chunk), checked to be 16 kHz mono. */
export const wavSamples = (wav: Buffer): Int16Array => wavAudio(wav, 16_000).samples;
