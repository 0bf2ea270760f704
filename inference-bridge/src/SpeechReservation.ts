// A slot on a speech worker, held for an admitted conversation from the
// moment its microphone is accepted until its audio flows and a stream
// claims the slot. A microphone that never sends audio gives the slot up
// after `holdMs`, so capacity cannot be held by sockets that stay silent.
import type { AsrWorker } from "./AsrWorkerPool.ts";
import { asrAdmissions } from "./metrics.ts";

export class SpeechReservation {
  readonly worker: AsrWorker;
  #timer: NodeJS.Timeout | undefined;
  #held = true;

  constructor(worker: AsrWorker, holdMs: number) {
    this.worker = worker;
    worker.reserved++;
    asrAdmissions.inc({ outcome: "admitted" });
    this.#timer = setTimeout(() => {
      if (this.#held) asrAdmissions.inc({ outcome: "expired" });
      this.release();
    }, holdMs).unref();
  }

  get held(): boolean {
    return this.#held;
  }

  /** Gives the slot back (a stream took its place, or the conversation ended); safe to call twice. */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.worker.reserved--;
  }
}
