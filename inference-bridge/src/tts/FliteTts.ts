// Local text-to-speech with Debian's flite (voice "slt", 16 kHz mono): the
// embedded default. A synthesiser returns 16 kHz mono s16le PCM. flite is
// started through a ProcessLauncher, so the node never forks itself per reply.
//
// Every synthesis has a deadline (waiting for a run included): a flite or a
// launcher helper that stalls would otherwise hold the AI's turn forever, and
// with it the conversation. Runs are capped node-wide (RunSlots).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { abortError, type LaunchResult, ProcessLauncher } from "./ProcessLauncher.ts";
import { RunSlots } from "./RunSlots.ts";
import { SynthesisError } from "./SynthesisError.ts";
import { reportSynthesisSetup } from "./synthesisSetup.ts";

export interface SpeechSynthesizer {
  readonly name: string;
  synthesize(text: string, signal?: AbortSignal): Promise<Int16Array>;
  /** Releases what it holds (a helper process); safe to call twice. */
  close?(): void;
}

/** What starts flite: the ProcessLauncher, or a stand-in in tests. */
export interface ProgramRunner {
  run(command: string, args: string[], signal?: AbortSignal): Promise<LaunchResult>;
  close(): void;
}

export interface FliteTtsOptions {
  /** Longest one synthesis may take, waiting for a run included; beyond it fails ("timeout"). */
  deadlineMs?: number;
  /** flite runs at once (the node has one synthesiser, so this is node-wide). */
  maxRunning?: number;
  /** Syntheses waiting for a run; one more fails at once ("busy"). */
  maxWaiting?: number;
  /** The program to run (default "flite", found on PATH). */
  program?: string;
  launcher?: ProgramRunner;
}

/** A question takes flite well under a second; seconds more means it (or its helper) is stuck. */
export const DEFAULT_SYNTHESIS_DEADLINE_MS = 5_000;
const DEFAULT_MAX_WAITING = 32;
const defaultMaxRunning = () => Math.max(1, Math.min(4, os.availableParallelism()));

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
  readonly #program: string;
  readonly #deadlineMs: number;
  readonly #launcher: ProgramRunner;
  readonly #slots: RunSlots;

  constructor(voice = "slt", options: FliteTtsOptions = {}) {
    this.#voice = voice;
    this.name = `flite:${voice}`;
    this.#program = options.program ?? "flite";
    this.#deadlineMs = options.deadlineMs ?? DEFAULT_SYNTHESIS_DEADLINE_MS;
    this.#launcher = options.launcher ?? new ProcessLauncher();
    this.#slots = new RunSlots({
      maxRunning: options.maxRunning ?? defaultMaxRunning(),
      maxWaiting: options.maxWaiting ?? DEFAULT_MAX_WAITING,
    });
  }

  /** Rejects with an AbortError when `signal` fires, else with a SynthesisError or flite's own error. */
  async synthesize(text: string, signal?: AbortSignal): Promise<Int16Array> {
    if (signal?.aborted) throw abortError(signal);
    const deadline = AbortSignal.timeout(this.#deadlineMs);
    try {
      return await this.#synthesize(text, signal ? AbortSignal.any([signal, deadline]) : deadline);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (deadline.aborted)
        throw new SynthesisError("timeout", `no speech from ${this.#program} within ${this.#deadlineMs} ms`, {
          cause: err,
        });
      throw err;
    }
  }

  /**
   * Logs what an operator must know at startup: flite missing (the AI would be
   * mute), or the deployment guide's TTS_SERVICE_URL set, which Parley does not use.
   */
  reportSetup(logger: Logger, ttsServiceUrl?: string): Promise<void> {
    return reportSynthesisSetup(logger, { program: this.#program, ttsServiceUrl });
  }

  close(): void {
    this.#launcher.close();
  }

  async #synthesize(text: string, signal: AbortSignal): Promise<Int16Array> {
    const release = await this.#slots.acquire(signal);
    // flite seeks back to fill in the WAV header, so it writes to a file, not a pipe. Each run gets a
    // directory of its own, removed with what is in it: a flite killed late (an abort runs ahead of the
    // kill) then cannot create its file any more, so nothing is left behind in /tmp.
    let dir: string | undefined;
    try {
      dir = await mkdtemp(path.join(tmpdir(), "parley-tts-"));
      const file = path.join(dir, "speech.wav");
      const args = ["-voice", this.#voice, "-t", text, "-o", file];
      const { code, signal: killedBy, stderr } = await this.#launcher.run(this.#program, args, signal);
      if (code !== 0)
        throw new SynthesisError("failed", `${this.#program} exited with ${code ?? killedBy}: ${stderr.trim()}`);
      return wavSamples(await readFile(file));
    } finally {
      release();
      // A directory that cannot be removed costs disk, not this reply: the speech is still good.
      if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 2 }).catch(() => {});
    }
  }
}
