// The worker pool against real mediasoup workers: a dead worker is replaced,
// even when the first tries to start its replacement fail.
import pino from "pino";
import { describe, expect, it } from "vitest";
import { MediaWorkerPool } from "../src/MediaWorkerPool.ts";
import { builtWorkerBin } from "./workerBin.ts";

/** A one-worker pool whose worker starts go through `refuse`: true makes that start fail. */
async function poolRefusingWhen(refuse: () => boolean, respawnDelayMs: number) {
  let starts = 0;
  const pool = await MediaWorkerPool.create({
    workers: 1,
    rtcMinPort: 40_000,
    rtcMaxPort: 49_999,
    workerBin: builtWorkerBin(),
    logger: pino({ level: "silent" }),
    respawnDelayMs,
    createWorker: (create) => async (settings) => {
      starts++;
      if (refuse()) throw new Error("spawn refused (test)");
      return create(settings);
    },
  });
  return { pool, starts: () => starts };
}

describe("MediaWorkerPool (real mediasoup workers)", () => {
  it("keeps trying to replace a dead worker until one starts", async () => {
    // The machine refuses the next two workers (out of memory, say), then lets one start.
    let failuresLeft = 0;
    const { pool, starts } = await poolRefusingWhen(() => failuresLeft-- > 0, 50);
    try {
      const replaced = new Promise<number>((resolve) => pool.once("workerreplaced", resolve));
      const dead = pool.describe()[0]!.pid;
      failuresLeft = 2;
      expect(pool.killWorker(dead)).toBe(true);
      expect(await replaced).toBe(dead);
      expect(starts()).toBe(4); // the first, two refused, the replacement
      expect(pool.size).toBe(1);
      const lease = pool.acquireRouter();
      expect(lease).toBeDefined();
      expect(lease!.pid).not.toBe(dead);
      lease!.release();
    } finally {
      pool.close();
    }
  });

  it("stops trying once closed", async () => {
    let refuse = false;
    const { pool, starts } = await poolRefusingWhen(() => refuse, 20);
    const died = new Promise((resolve) => pool.once("workerdied", resolve));
    refuse = true;
    pool.killWorker(pool.describe()[0]!.pid);
    await died;
    await expect.poll(starts).toBeGreaterThan(2); // it is retrying
    pool.close();
    const after = starts();
    // Longer than the next retry's wait would be (it doubles: 1 s after the third try, 2 s after the fourth).
    await new Promise((r) => setTimeout(r, 2_500));
    expect(starts()).toBeLessThanOrEqual(after + 1); // at most a try already under way
    expect(pool.size).toBe(0);
  });
});
