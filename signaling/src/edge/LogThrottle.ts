// Log lines that echo what a client sent are clipped and rate-limited per
// node, so a flood of bad frames cannot flood the logs: beyond the budget
// lines are dropped and counted, and the next line that passes says how
// many were suppressed.
import { TokenBucket } from "./TokenBucket.ts";

/** At most `max` characters of client input, marked when cut. */
export function clip(text: string, max = 160): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;
}

export class LogThrottle {
  readonly #bucket: TokenBucket;
  #suppressed = 0;

  constructor(linesPerSecond = 20, burst = 50, now?: () => number) {
    this.#bucket = new TokenBucket(linesPerSecond, burst, now);
  }

  /**
   * Whether one more line may be written now; when it may, `suppressed` is
   * the number of lines dropped since the last one written.
   */
  admit(): { ok: true; suppressed: number } | { ok: false } {
    if (!this.#bucket.take()) {
      this.#suppressed++;
      return { ok: false };
    }
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return { ok: true, suppressed };
  }
}
