// The worker pool against real mediasoup workers: a dead worker is replaced,
// even when the first tries to start its replacement fail; a hung one is
// killed, and so dies and is replaced like any other.
import pino from "pino";
import { describe, expect, it, onTestFinished } from "vitest";
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

describe("MediaWorkerPool with a hung worker (real mediasoup workers)", () => {
  it("kills a worker that stops answering, so that it dies and is replaced", async () => {
    // Per worker, health checks asked and the most ever unanswered at once.
    const checks = new Map<number, { asked: number; outstanding: number; mostOutstanding: number }>();
    const pool = await MediaWorkerPool.create({
      workers: 2,
      rtcMinPort: 40_000,
      rtcMaxPort: 49_999,
      workerBin: builtWorkerBin(),
      logger: pino({ level: "silent" }),
      respawnDelayMs: 20,
      // Checks come fast, to show they do not pile up on a hung worker; the
      // bound stays generous, so a busy test machine cannot make a healthy worker look hung.
      workerCheckIntervalMs: 20,
      workerHungAfterMs: 1_000,
      createWorker: (create) => async (settings) => {
        const worker = await create(settings);
        const count = { asked: 0, outstanding: 0, mostOutstanding: 0 };
        checks.set(worker.pid, count);
        const getResourceUsage = worker.getResourceUsage.bind(worker);
        worker.getResourceUsage = () => {
          count.asked++;
          count.mostOutstanding = Math.max(count.mostOutstanding, ++count.outstanding);
          return getResourceUsage().finally(() => count.outstanding--);
        };
        return worker;
      },
    });
    const [hung, healthy] = pool.describe().map((w) => w.pid) as [number, number];
    const died = new Map<number, string>();
    pool.on("workerdied", (pid, _error, cause) => died.set(pid, cause));
    // Runs even when the test times out (a pool that never notices): leave no
    // stopped process behind. Once "workerdied" came, the process is reaped
    // and its pid may belong to another.
    onTestFinished(() => {
      if (!died.has(hung)) {
        for (const signal of ["SIGCONT", "SIGKILL"] as const) {
          try {
            process.kill(hung, signal);
          } catch {}
        }
      }
      pool.close();
    });
    const replaced = new Promise<number>((resolve) => pool.once("workerreplaced", resolve));
    process.kill(hung, "SIGSTOP");

    expect(await replaced).toBe(hung);
    expect([...died]).toEqual([[hung, "hung"]]);
    expect(checks.get(hung)!.mostOutstanding).toBe(1);

    // The healthy worker, checked all along, was left alone; the new one serves.
    expect(checks.get(healthy)!.asked).toBeGreaterThan(1);
    const pids = pool.describe().map((w) => w.pid);
    expect(pids).toHaveLength(2);
    expect(pids).toContain(healthy);
    const replacement = pids.find((pid) => pid !== healthy)!;
    expect(replacement).not.toBe(hung);
    await expect.poll(() => checks.get(replacement)!.asked).toBeGreaterThan(1);
    const leases = [pool.acquireRouter()!, pool.acquireRouter()!];
    expect(leases.map((l) => l.pid).sort()).toEqual([healthy, replacement].sort());
    const onReplacement = leases.find((l) => l.pid === replacement)!;
    expect((await onReplacement.router.dump()).id).toBe(onReplacement.router.id);
    for (const lease of leases) lease.release();
    expect(died.has(healthy)).toBe(false);
  });
});
