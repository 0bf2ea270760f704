// Local text-to-speech with Debian's flite (voice "slt", 16 kHz mono): the
// embedded default. A synthesiser returns 16 kHz mono s16le PCM.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

export interface SpeechSynthesizer {
  readonly name: string;
  synthesize(text: string, signal?: AbortSignal): Promise<Int16Array>;
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

  constructor(voice = "slt") {
    this.#voice = voice;
    this.name = `flite:${voice}`;
  }

  async synthesize(text: string, signal?: AbortSignal): Promise<Int16Array> {
    // flite seeks back to fill in the WAV header, so it writes to a file, not a pipe.
    const file = path.join(tmpdir(), `parley-tts-${randomUUID()}.wav`);
    try {
      await new Promise<void>((resolve, reject) => {
        const child = spawn("flite", ["-voice", this.#voice, "-t", text, "-o", file], {
          stdio: ["ignore", "ignore", "pipe"],
          ...(signal ? { signal } : {}),
        });
        let stderr = "";
        child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
        child.once("error", reject);
        child.once("close", (code) =>
          code === 0 ? resolve() : reject(new Error(`flite exited with ${code}: ${stderr.trim()}`)),
        );
      });
      return wavSamples(await readFile(file));
    } finally {
      await rm(file, { force: true });
    }
  }
}
