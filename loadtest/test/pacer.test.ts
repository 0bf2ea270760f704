import { describe, expect, it } from "vitest";
import { type PacedStream, Pacer } from "../src/run/Pacer.ts";

/** A stream with one packet due at `dueMs`, whose send takes a while (as SRTP encryption does). */
function slowStream(dueMs: number, log: { sentAt: number; doneAt: number }[]): PacedStream {
  let next = dueMs;
  return {
    get nextDueMs() {
      return next;
    },
    sendDue(sentAt: number) {
      const until = performance.now() + 2;
      while (performance.now() < until) {
        /* encrypting */
      }
      log.push({ sentAt, doneAt: performance.now() });
      next = Number.POSITIVE_INFINITY;
    },
  };
}

describe("pacer", () => {
  it("stamps each packet with the clock as its turn comes, after the sends before it in the same tick", async () => {
    const pacer = new Pacer();
    const due = performance.now();
    const log: { sentAt: number; doneAt: number }[] = [];
    for (let i = 0; i < 5; i++) pacer.add(slowStream(due, log));
    await expect.poll(() => log.length).toBe(5);
    pacer.stop();
    // One tick sent all five: each left after the one before had been sent, and says so.
    for (let i = 1; i < log.length; i++) expect(log[i]!.sentAt).toBeGreaterThanOrEqual(log[i - 1]!.doneAt);
    // The lateness sample (every 5th packet) is that packet's own: the four sends before it count as generator delay.
    expect(pacer.lateness).toEqual([log[4]!.sentAt - due]);
    expect(pacer.lateness[0]).toBeGreaterThanOrEqual(log[3]!.doneAt - due);
  });
});
