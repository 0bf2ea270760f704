// Local text-to-speech with Debian's flite (voice "slt", 16 kHz mono): the
// embedded default. A synthesiser returns 16 kHz mono s16le PCM. flite is
// started through a ProcessLauncher, so the node never forks itself per reply.
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ProcessLauncher } from "./ProcessLauncher.ts";

export interface SpeechSynthesizer {
  readonly name: string;
  synthesize(text: string, signal?: AbortSignal): Promise<Int16Array>;
  /** Releases what it holds (a helper process); safe to call twice. */
  close?(): void;
}

/** The samples of a 16-bit PCM WAV file (the "data" chunk), checked to be 16 kHz mono. */
export function wavSamples(wav: Buffer): Int16Array {
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
      if (format?.channels !== 1 || format.rate !== 16_000 || format.bits !== 16)
        throw new Error(`expected 16 kHz mono 16-bit WAV, got ${JSON.stringify(format)}`);
      const end = Math.min(wav.length, at + 8 + size) & ~1;
      const copy = new Uint8Array(wav.subarray(at + 8, end)); // a copy: aligned and owned
      return new Int16Array(copy.buffer, copy.byteOffset, copy.byteLength >> 1);
    }
    at += 8 + size + (size & 1);
  }
  throw new Error("WAV file has no data chunk");
}

export class FliteTts implements SpeechSynthesizer {
  readonly name: string;
  readonly #voice: string;
  readonly #launcher = new ProcessLauncher();

  constructor(voice = "slt") {
    this.#voice = voice;
    this.name = `flite:${voice}`;
  }

  async synthesize(text: string, signal?: AbortSignal): Promise<Int16Array> {
    // flite seeks back to fill in the WAV header, so it writes to a file, not a pipe.
    const file = path.join(tmpdir(), `parley-tts-${randomUUID()}.wav`);
    try {
      const {
        code,
        signal: killedBy,
        stderr,
      } = await this.#launcher.run("flite", ["-voice", this.#voice, "-t", text, "-o", file], signal);
      if (code !== 0) throw new Error(`flite exited with ${code ?? killedBy}: ${stderr.trim()}`);
      return wavSamples(await readFile(file));
    } finally {
      await rm(file, { force: true });
    }
  }

  close(): void {
    this.#launcher.close();
  }
}
