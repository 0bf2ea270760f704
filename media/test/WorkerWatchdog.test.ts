// The watchdog's rules on a stand-in worker and fake time: one question at a
// time, a hang reported once, a closed worker never called hung.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type WatchedWorker, WorkerWatchdog } from "../src/WorkerWatchdog.ts";

const TIMING = { checkIntervalMs: 100, hungAfterMs: 1_000 };
type Usage = Awaited<ReturnType<WatchedWorker["getResourceUsage"]>>;

/** A worker that answers its first `answers` questions at once and then none. */
function workerAnswering(answers: number) {
  const worker = {
    closed: false,
    asked: 0,
    getResourceUsage: () => (++worker.asked <= answers ? Promise.resolve({} as Usage) : new Promise<Usage>(() => {})),
  };
  return worker;
}

describe("WorkerWatchdog", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("asks again only once answered, and reports a worker that stops answering once", async () => {
    const worker = workerAnswering(3);
    const onHung = vi.fn();
    new WorkerWatchdog(worker, TIMING, onHung);
    await vi.advanceTimersByTimeAsync(10 * TIMING.hungAfterMs);
    expect(worker.asked).toBe(4); // three answered, the fourth never
    expect(onHung).toHaveBeenCalledOnce();
  });

  it("leaves a worker that keeps answering alone", async () => {
    const worker = workerAnswering(Number.POSITIVE_INFINITY);
    const onHung = vi.fn();
    new WorkerWatchdog(worker, TIMING, onHung);
    await vi.advanceTimersByTimeAsync(10 * TIMING.hungAfterMs);
    expect(worker.asked).toBeGreaterThan(5);
    expect(onHung).not.toHaveBeenCalled();
  });

  it("never calls a worker closed on purpose hung", async () => {
    const worker = workerAnswering(0);
    const onHung = vi.fn();
    new WorkerWatchdog(worker, TIMING, onHung);
    await vi.advanceTimersByTimeAsync(TIMING.checkIntervalMs);
    expect(worker.asked).toBe(1);
    worker.closed = true; // closing, its question unanswered
    await vi.advanceTimersByTimeAsync(10 * TIMING.hungAfterMs);
    expect(onHung).not.toHaveBeenCalled();
  });

  it("stops asking and judging once stopped", async () => {
    const worker = workerAnswering(1);
    const onHung = vi.fn();
    const watchdog = new WorkerWatchdog(worker, TIMING, onHung);
    await vi.advanceTimersByTimeAsync(2 * TIMING.checkIntervalMs);
    watchdog.stop();
    const asked = worker.asked;
    await vi.advanceTimersByTimeAsync(10 * TIMING.hungAfterMs);
    expect(worker.asked).toBe(asked);
    expect(onHung).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});
