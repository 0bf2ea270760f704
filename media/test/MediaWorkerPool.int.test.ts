// The worker pool against real mediasoup workers: a dead worker is replaced,
// even when the first tries to start its replacement fail.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { describe, expect, it } from "vitest";
import { MediaWorkerPool } from "../src/MediaWorkerPool.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function builtWorkerBin(): string | undefined {
  try {
    const bin = fs.readFileSync(path.join(ROOT, ".cache/mediasoup-worker/current"), "utf8").trim();
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

describe("MediaWorkerPool (real mediasoup workers)", () => {
  it("keeps trying to replace a dead worker until one starts", async () => {
    let failuresLeft = 0;
    let starts = 0;
    const pool = await MediaWorkerPool.create({
      workers: 1,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger: pino({ level: "silent" }),
      respawnDelayMs: 50,
      // The machine refuses the next two workers (out of memory, say), then lets one start.
      createWorker: (create) => async (settings) => {
        starts++;
        if (failuresLeft > 0) {
          failuresLeft--;
          throw new Error("spawn refused (test)");
        }
        return create(settings);
      },
    });
    try {
      const replaced = new Promise<number>((resolve) => pool.once("workerreplaced", resolve));
      const dead = pool.describe()[0]!.pid;
      failuresLeft = 2;
      expect(pool.killWorker(dead)).toBe(true);
      expect(await replaced).toBe(dead);
      expect(starts).toBe(4); // the first, two refused, the replacement
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
    let starts = 0;
    let refuse = false;
    const pool = await MediaWorkerPool.create({
      workers: 1,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger: pino({ level: "silent" }),
      respawnDelayMs: 20,
      createWorker: (create) => async (settings) => {
        starts++;
        if (refuse) throw new Error("spawn refused (test)");
        return create(settings);
      },
    });
    const died = new Promise((resolve) => pool.once("workerdied", resolve));
    refuse = true;
    pool.killWorker(pool.describe()[0]!.pid);
    await died;
    await expect.poll(() => starts).toBeGreaterThan(2); // it is retrying
    pool.close();
    const after = starts;
    await new Promise((r) => setTimeout(r, 500));
    expect(starts).toBeLessThanOrEqual(after + 1); // at most a try already under way
    expect(pool.size).toBe(0);
  });
});
