// One clock for every session's audio: a single timer wakes at the earliest
// due packet and sends every packet that is due, instead of one timer per
// session and packet. How late each packet went out is the load generator's
// own health: a late generator looks like network jitter to the server.

export interface PacedStream {
  /** performance.now() at which the next packet is due; Infinity when done. */
  readonly nextDueMs: number;
  /** Sends the due packet (and advances nextDueMs); `sentAt`: performance.now() as this packet's turn came. */
  sendDue(sentAt: number): void;
}

export class Pacer {
  readonly #streams = new Set<PacedStream>();
  /** How late each packet left, ms (a sample of at most one per stream per 100 ms). */
  readonly lateness: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #sampleEvery = 5;
  #sent = 0;
  #stopped = false;

  add(stream: PacedStream): void {
    if (this.#stopped) return;
    this.#streams.add(stream);
    this.#schedule();
  }

  remove(stream: PacedStream): void {
    this.#streams.delete(stream);
  }

  /** Lateness samples since the last call (ms), and forgets them. */
  drainLateness(): number[] {
    return this.lateness.splice(0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#streams.clear();
  }

  #schedule(): void {
    if (this.#stopped) return;
    let next = Number.POSITIVE_INFINITY;
    for (const s of this.#streams) if (s.nextDueMs < next) next = s.nextDueMs;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (next === Number.POSITIVE_INFINITY) return;
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, next - performance.now()));
  }

  #tick(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const s of this.#streams) {
      // A stream that fell behind catches up at once: the server sees a burst, as from a real client after a stall.
      for (let guard = 0; s.nextDueMs <= now + 0.5 && guard < 50; guard++) {
        const due = s.nextDueMs;
        // Each send SRTP-encrypts before the next one starts: with many streams the k-th packet of a
        // tick leaves k sends after the tick began. Its own clock reading charges that to the generator.
        const sentAt = performance.now();
        if (++this.#sent % this.#sampleEvery === 0) this.lateness.push(Math.max(0, sentAt - due));
        s.sendDue(sentAt);
      }
    }
    this.#schedule();
  }
}
