// Notices a mediasoup worker that is alive but no longer works (deadlocked,
// stuck in a syscall, SIGSTOPped, spinning): its process never exits, so
// mediasoup never reports it "died", and the customers on it just hear nothing.
// The watchdog asks the worker a cheap question, getResourceUsage (a getrusage
// answered by the worker's own event loop, so a worker that answers is one
// that still serves its channel), and reports the worker hung when no answer
// comes within a bound. mediasoup's channel requests have no timeout of their
// own: a request to a hung worker stays pending for good.
import type { types as ms } from "mediasoup";

/** What the watchdog needs of a worker: a question only its event loop can answer. */
export type WatchedWorker = Pick<ms.Worker, "closed" | "getResourceUsage">;

export interface WorkerWatchdogTiming {
  /** Pause between one answer and the next question. */
  checkIntervalMs: number;
  /** How long a question may go unanswered before the worker is declared hung. */
  hungAfterMs: number;
}

/**
 * A worker answers getrusage in well under a millisecond even when loaded, so
 * 10 s unanswered is no slow moment but a broken worker, and no stall that
 * could pass on its own (a slow disk under its log, a long page fault) comes
 * near it. With a 5 s pause between questions a hung worker is found within
 * 15 s, at the cost of one tiny request per worker every 5 s.
 */
export const DEFAULT_WATCHDOG_TIMING: WorkerWatchdogTiming = { checkIntervalMs: 5_000, hungAfterMs: 10_000 };

/**
 * Watches one worker until stopped, until the worker closes (on purpose or
 * by dying: neither is a hang), or until it is found hung: then `onHung` is
 * called once and the watchdog stops. At most one question is outstanding:
 * the next is asked only after the last was answered.
 */
export class WorkerWatchdog {
  readonly #worker: WatchedWorker;
  readonly #timing: WorkerWatchdogTiming;
  readonly #onHung: (waitedMs: number) => void;
  /** The pause before the next question, or the deadline of the one outstanding. */
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(worker: WatchedWorker, timing: WorkerWatchdogTiming, onHung: (waitedMs: number) => void) {
    this.#worker = worker;
    this.#timing = timing;
    this.#onHung = onHung;
    this.#waitThenCheck();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #waitThenCheck(): void {
    this.#timer = setTimeout(() => this.#check(), this.#timing.checkIntervalMs).unref();
  }

  #check(): void {
    if (this.#stopped || this.#worker.closed) {
      this.stop();
      return;
    }
    const askedAt = Date.now();
    let answered = false;
    this.#timer = setTimeout(() => {
      // Judge only after this turn's I/O is read: if this process itself was
      // stalled past the deadline, the answer may be waiting in the pipe.
      setImmediate(() => {
        if (answered || this.#stopped || this.#worker.closed) return;
        this.stop();
        this.#onHung(Date.now() - askedAt);
      });
    }, this.#timing.hungAfterMs).unref();
    // An error answer still came from a working event loop; a closed channel
    // means the worker closed or died, which the next #check notices.
    const onAnswer = () => {
      answered = true;
      if (this.#stopped) return;
      clearTimeout(this.#timer);
      this.#waitThenCheck();
    };
    this.#worker.getResourceUsage().then(onAnswer, onAnswer);
  }
}
