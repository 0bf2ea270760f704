// Opus decoding through @evan/opus. Its native build ships inside the npm
// package; it silently falls back to WebAssembly (about 2x slower) when the
// binary fails to load, so the start-up check below says which one runs.
import { createRequire } from "node:module";
import { Decoder } from "@evan/opus";

export const OUTPUT_SAMPLE_RATE = 16_000;

export function opusBackend(): "native" | "wasm" {
  try {
    createRequire(import.meta.url)(`@evan/opus/node/${process.arch}-${process.platform}.node`);
    return "native";
  } catch {
    return "wasm";
  }
}

/**
 * Decodes Opus straight to 16 kHz mono. libopus resamples internally
 * (band-limited, in the codec's own domain), which is both cheaper and
 * cleaner than decoding at 48 kHz and resampling in JavaScript.
 */
export class OpusPcmDecoder {
  readonly #decoder = new Decoder({ channels: 1, sample_rate: OUTPUT_SAMPLE_RATE });
  /** The last view handed out: every 20 ms frame decodes to the same place and size, so it is reused. */
  #view: Int16Array = new Int16Array(0);

  /**
   * Decodes one packet. The returned samples are a view of a buffer shared by
   * all decoders: valid until the next decode call, copy them to keep them.
   */
  decode(payload: Uint8Array): Int16Array {
    const bytes = this.#decoder.decode(payload);
    if (bytes.byteOffset % 2 !== 0) return new Int16Array(bytes.slice().buffer);
    const view = this.#view;
    if (view.buffer === bytes.buffer && view.byteOffset === bytes.byteOffset && view.byteLength === bytes.byteLength)
      return view;
    this.#view = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
    return this.#view;
  }

  /** Forget the decoder's history (after a long gap). */
  reset(): void {
    this.#decoder.reset();
  }
}
