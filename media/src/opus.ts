// Opus decoding through @evan/opus. Its native build ships inside the npm
// package; it silently falls back to WebAssembly (about 2x slower) when the
// binary fails to load, so the start-up check below says which one runs.
import { createRequire } from "node:module";
import { Decoder } from "@evan/opus";

export const OUTPUT_SAMPLE_RATE = 16_000;

/** The native addon: its decode writes into one static buffer and returns the byte count. */
interface NativeOpus {
  buffers: { decoder(): Uint8Array };
}
type AddonDecode = (this: Decoder, packet: Uint8Array) => number;

function loadNative(): { decode: AddonDecode; output: Uint8Array } | undefined {
  try {
    const addon = createRequire(import.meta.url)(
      `@evan/opus/node/${process.arch}-${process.platform}.node`,
    ) as NativeOpus;
    // The package's classes sit on the addon's; the first class in the chain owns the C++ decode.
    // With WebAssembly chosen (OPUS_FORCE_WASM, or the addon failed in the package) there is none.
    let decode: unknown;
    for (let p = Decoder.prototype; p !== Object.prototype; p = Object.getPrototypeOf(p))
      if (Object.hasOwn(p, "decode")) decode = (p as { decode: unknown }).decode;
    if (typeof decode !== "function" || !String(decode).includes("[native code]")) return undefined;
    return { decode: decode as AddonDecode, output: addon.buffers.decoder() };
  } catch {
    return undefined;
  }
}

/**
 * The package's wrapper copies each decoded frame out of the addon's static
 * buffer (`slice`): 50 allocations a second per stream that no caller needs,
 * since the samples are read during the sink's call only. Calling the addon's
 * own decode on the package's decoder and viewing that buffer skips the copy.
 */
const native = loadNative();

export function opusBackend(): "native" | "wasm" {
  return native ? "native" : "wasm";
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
  /** The TOC byte (mode, bandwidth, frame size) of the last packet decoded; -1 before any. */
  #lastToc = -1;
  /** A packet of one frame with no data: libopus decodes it as a lost frame (RFC 6716 3.2.1). */
  readonly #lostFrame = new Uint8Array(1);

  /**
   * Decodes one packet. The returned samples are a view of a buffer shared by
   * all decoders: valid until the next decode call, copy them to keep them.
   */
  decode(payload: Uint8Array): Int16Array {
    let pcm: Int16Array;
    if (native) pcm = this.#viewOf(native.output, native.decode.call(this.#decoder, payload));
    else {
      const bytes = this.#decoder.decode(payload);
      pcm = this.#viewOf(bytes, bytes.byteLength);
    }
    // Only a packet libopus took: a corrupt one's TOC would give concealment a wrong mode and size.
    this.#lastToc = payload[0]!;
    return pcm;
  }

  /**
   * The codec's own concealment of one lost frame, as long as the last
   * packet's frames: the voice carried on from the decoder's state (libopus
   * lowers it frame by frame, but not to silence), and a smooth way back into
   * the next real packet. (@evan/opus offers no call with no packet; a frame
   * of zero bytes is libopus's other way to say "lost".) Undefined before
   * the first packet or after a reset: there is nothing to carry on. Same
   * lifetime as decode's samples.
   */
  conceal(): Int16Array | undefined {
    if (this.#lastToc < 0) return undefined;
    this.#lostFrame[0] = this.#lastToc & 0xfc; // code 0: a single frame, here of no bytes
    return this.decode(this.#lostFrame);
  }

  /** Forget the decoder's history (after a long gap). */
  reset(): void {
    this.#decoder.reset();
    this.#lastToc = -1;
  }

  #viewOf(bytes: Uint8Array, byteLength: number): Int16Array {
    if (bytes.byteOffset % 2 !== 0) return new Int16Array(bytes.slice(0, byteLength).buffer);
    const view = this.#view;
    if (view.buffer === bytes.buffer && view.byteOffset === bytes.byteOffset && view.byteLength === byteLength)
      return view;
    this.#view = new Int16Array(bytes.buffer, bytes.byteOffset, byteLength >> 1);
    return this.#view;
  }
}
