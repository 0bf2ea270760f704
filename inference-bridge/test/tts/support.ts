// What the synthesisers' tests share: WAV files made here, measures of PCM,
// stand-in programs, and a launcher that runs nothing until told to.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect } from "vitest";
import type { LaunchResult } from "../../src/tts/ProcessLauncher.ts";
import type { ProgramRunner } from "../../src/tts/ProgramSynthesis.ts";
import type { SpeechSynthesizer } from "../../src/tts/SpeechSynthesizer.ts";

export interface WavOptions {
  rate?: number;
  channels?: number;
  bits?: number;
  /** Extra chunks before "fmt " / between "fmt " and "data". */
  before?: Buffer[];
  between?: Buffer[];
  /** Overrides the data chunk's declared size (e.g. 0xffffffff for a streamed WAV). */
  dataSize?: number;
  noData?: boolean;
}

export function chunk(id: string, body: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, "ascii");
  head.writeUInt32LE(body.length, 4);
  return Buffer.concat([head, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

export function wav(samples: Int16Array, o: WavOptions = {}): Buffer {
  const channels = o.channels ?? 1;
  const rate = o.rate ?? 16_000;
  const bits = o.bits ?? 16;
  const fmt = Buffer.alloc(16);
  fmt.writeUInt16LE(1, 0); // PCM
  fmt.writeUInt16LE(channels, 2);
  fmt.writeUInt32LE(rate, 4);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 8);
  fmt.writeUInt16LE((channels * bits) / 8, 12);
  fmt.writeUInt16LE(bits, 14);
  const data = Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
  const dataChunk = chunk("data", data);
  if (o.dataSize !== undefined) dataChunk.writeUInt32LE(o.dataSize, 4);
  const body = Buffer.concat([
    Buffer.from("WAVE", "ascii"),
    ...(o.before ?? []),
    chunk("fmt ", fmt),
    ...(o.between ?? []),
    ...(o.noData ? [] : [dataChunk]),
  ]);
  const riff = Buffer.alloc(8);
  riff.write("RIFF", 0, "ascii");
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

export const ramp = (n: number) => Int16Array.from({ length: n }, (_, i) => (i * 37 - 5_000) | 0);

export function rms(pcm: Int16Array): number {
  let e = 0;
  for (const s of pcm) e += s * s;
  return Math.sqrt(e / Math.max(1, pcm.length));
}

export function peak(pcm: Int16Array): number {
  let p = 0;
  for (const s of pcm) p = Math.max(p, Math.abs(s));
  return p;
}

/** A folder of this test file's own for stand-in programs (removed after its tests); `script` writes one. */
export function programFolder(prefix: string): { dir: string; script(name: string, body: string): string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return {
    dir,
    script(name, body) {
      const file = path.join(dir, name);
      writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return file;
    },
  };
}

export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Starts nothing: each run waits until the test answers it, writing a WAV of
 * `samples` at `rate` to the path after `outputFlag` (flite's -o, espeak-ng's -w)
 * as the program would.
 */
export class HeldLauncher implements ProgramRunner {
  readonly runs: { args: string[]; answer: () => void }[] = [];

  constructor(
    readonly outputFlag = "-o",
    readonly rate = 16_000,
    readonly samples = ramp(160),
  ) {}

  run(_command: string, args: string[], signal?: AbortSignal): Promise<LaunchResult> {
    return new Promise((resolve, reject) => {
      signal?.addEventListener("abort", () => reject(Object.assign(new Error("aborted"), { name: "AbortError" })));
      const out = args[args.indexOf(this.outputFlag) + 1]!;
      this.runs.push({
        args,
        answer: () => {
          writeFileSync(out, wav(this.samples, { rate: this.rate }));
          resolve({ code: 0, signal: null, stderr: "" });
        },
      });
    });
  }

  close(): void {}
}

/**
 * A synthesiser aborted while its program runs leaves no WAV behind, even when the program
 * writes it after it was killed: a stand-in program (its output file after `outputFlag`) has a
 * process of its own write the file once it is gone.
 */
export async function expectNoWavAfterAbort(
  folder: ReturnType<typeof programFolder>,
  outputFlag: string,
  synthesize: (program: string, signal: AbortSignal) => { tts: SpeechSynthesizer; pending: Promise<Int16Array> },
): Promise<void> {
  const started = path.join(folder.dir, "late.started");
  const wrote = path.join(folder.dir, "late.wrote");
  const late = folder.script(
    "late-writer",
    [
      `while [ "$1" != "${outputFlag}" ]; do shift; done`,
      'out="$2"',
      "main=$$",
      `(while kill -0 "$main" 2>/dev/null; do sleep 0.02; done; echo RIFF > "$out" 2>/dev/null; echo "$out" > "${wrote}") &`,
      `echo started > "${started}"`,
      "exec sleep 30",
    ].join("\n"),
  );
  const controller = new AbortController();
  const { tts, pending } = synthesize(late, controller.signal);
  try {
    await expect.poll(() => existsSync(started)).toBe(true);
    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    await expect.poll(() => existsSync(wrote)).toBe(true);
    const out = readFileSync(wrote, "utf8").trim();
    expect(out).not.toBe("");
    expect(existsSync(out)).toBe(false);
  } finally {
    tts.close?.();
  }
}
