// What the program-based synthesisers (FliteTts, EspeakTts) share: a program
// started through a ProcessLauncher (the node never forks itself per reply),
// writing a WAV file of its own, under a deadline and node-wide RunSlots.
//
// Every synthesis has a deadline (waiting for a run included): a program or a
// launcher helper that stalls would otherwise hold the AI's turn forever, and
// with it the conversation. Runs are capped node-wide: synthesisers that
// share one ProgramSynthesis share its helper process and its cap.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os, { tmpdir } from "node:os";
import path from "node:path";
import { abortError, type LaunchResult, ProcessLauncher } from "./ProcessLauncher.ts";
import { RunSlots } from "./RunSlots.ts";
import { SynthesisError } from "./SynthesisError.ts";

/** What starts the program: the ProcessLauncher, or a stand-in in tests. */
export interface ProgramRunner {
  run(command: string, args: string[], signal?: AbortSignal): Promise<LaunchResult>;
  close(): void;
}

export interface ProgramSynthesisOptions {
  /** Longest one synthesis may take, waiting for a run included; beyond it fails ("timeout"). */
  deadlineMs?: number;
  /** Programs running at once (the node has one ProgramSynthesis, so this is node-wide). */
  maxRunning?: number;
  /** Syntheses waiting for a run; one more fails at once ("busy"). */
  maxWaiting?: number;
  launcher?: ProgramRunner;
}

/** A question takes flite or espeak-ng well under a second; seconds more means it (or its helper) is stuck. */
export const DEFAULT_SYNTHESIS_DEADLINE_MS = 5_000;
const DEFAULT_MAX_WAITING = 32;
const defaultMaxRunning = () => Math.max(1, Math.min(4, os.availableParallelism()));

export class ProgramSynthesis {
  readonly deadlineMs: number;
  readonly #launcher: ProgramRunner;
  readonly #slots: RunSlots;

  constructor(options: ProgramSynthesisOptions = {}) {
    this.deadlineMs = options.deadlineMs ?? DEFAULT_SYNTHESIS_DEADLINE_MS;
    this.#launcher = options.launcher ?? new ProcessLauncher();
    this.#slots = new RunSlots({
      maxRunning: options.maxRunning ?? defaultMaxRunning(),
      maxWaiting: options.maxWaiting ?? DEFAULT_MAX_WAITING,
    });
  }

  /**
   * The WAV file `program` writes when run with `argsFor(file)`, under a run
   * slot and the deadline. Rejects with an AbortError when `signal` fires, a
   * SynthesisError ("timeout", "busy", "failed": a non-zero exit), or the launcher's error.
   */
  wav(program: string, argsFor: (file: string) => string[], signal?: AbortSignal): Promise<Buffer> {
    return this.#withDeadline(program, signal, async (bounded) => {
      const release = await this.#slots.acquire(bounded);
      // The program may seek back to fill in the WAV header, so it writes to a file, not a pipe. Each run
      // gets a directory of its own, removed with what is in it: a program killed late (an abort runs ahead
      // of the kill) then cannot create its file any more, so nothing is left behind in /tmp.
      let dir: string | undefined;
      try {
        dir = await mkdtemp(path.join(tmpdir(), "parley-tts-"));
        const file = path.join(dir, "speech.wav");
        succeeded(program, await this.#launcher.run(program, argsFor(file), bounded));
        return await readFile(file);
      } finally {
        release();
        // A directory that cannot be removed costs disk, not this reply: the speech is still good.
        if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 2 }).catch(() => {});
      }
    });
  }

  /** Runs `program` to completion under the deadline but without a run slot (a quick check, no speech). */
  run(program: string, args: string[], signal?: AbortSignal): Promise<LaunchResult> {
    return this.#withDeadline(program, signal, (bounded) => this.#launcher.run(program, args, bounded));
  }

  /** Stops the launcher's helper (what it runs is killed). Safe to call twice. */
  close(): void {
    this.#launcher.close();
  }

  async #withDeadline<T>(
    program: string,
    signal: AbortSignal | undefined,
    work: (bounded: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw abortError(signal);
    const deadline = AbortSignal.timeout(this.deadlineMs);
    try {
      return await work(signal ? AbortSignal.any([signal, deadline]) : deadline);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      if (deadline.aborted)
        throw new SynthesisError("timeout", `no speech from ${program} within ${this.deadlineMs} ms`, { cause: err });
      throw err;
    }
  }
}

function succeeded(program: string, { code, signal, stderr }: LaunchResult): void {
  if (code !== 0) throw new SynthesisError("failed", `${program} exited with ${code ?? signal}: ${stderr.trim()}`);
}
