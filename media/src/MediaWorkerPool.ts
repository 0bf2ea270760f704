// A pool of mediasoup workers, one router each. A worker that dies is
// replaced; its routers close, which closes every transport on them, so each
// session learns through its own transports' "routerclose". A worker that
// hangs is killed, so that it dies and takes the same path.
import { EventEmitter } from "node:events";
import type * as Mediasoup from "mediasoup";
import type { types as ms } from "mediasoup";

type Router = ms.Router;
type Worker = ms.Worker;

import type { Logger } from "pino";
import { DEFAULT_WATCHDOG_TIMING, WorkerWatchdog } from "./WorkerWatchdog.ts";

export const AUDIO_CODECS: ms.RouterRtpCodecCapability[] = [
  {
    kind: "audio",
    mimeType: "audio/opus",
    clockRate: 48_000,
    channels: 2,
    parameters: { useinbandfec: 1, usedtx: 1 },
  },
];

export interface MediaWorkerPoolOptions {
  workers: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  workerBin?: string;
  logLevel?: ms.WorkerLogLevel;
  logger: Logger;
  /** Delay before a dead worker is replaced, so a crash loop cannot spin; doubled after each failed try. */
  respawnDelayMs?: number;
  /** Pause between health checks of each worker (default: see DEFAULT_WATCHDOG_TIMING). */
  workerCheckIntervalMs?: number;
  /** A worker that leaves a health check unanswered this long is killed as hung (default: see DEFAULT_WATCHDOG_TIMING). */
  workerHungAfterMs?: number;
  /** Tests only: wraps mediasoup's createWorker, to make a replacement fail. */
  createWorker?: (create: typeof Mediasoup.createWorker) => typeof Mediasoup.createWorker;
}

/** The longest wait between tries to replace a dead worker. */
const MAX_RESPAWN_DELAY_MS = 30_000;

interface PoolEntry {
  worker: Worker;
  router: Router;
  sessions: number;
  watchdog: WorkerWatchdog;
  /** Set when the pool killed the worker for hanging, so its death is told as such. */
  killedAsHung: boolean;
}

/** Why a worker died: "hung" when the pool killed it for not answering; "crashed" for any other death. */
export type WorkerDeathCause = "crashed" | "hung";

interface MediaWorkerPoolEvents {
  workerdied: [pid: number, error: Error, cause: WorkerDeathCause];
  workerreplaced: [pid: number];
}

export class MediaWorkerPool extends EventEmitter<MediaWorkerPoolEvents> {
  readonly #options: MediaWorkerPoolOptions;
  readonly #entries = new Set<PoolEntry>();
  #closed = false;

  static async create(options: MediaWorkerPoolOptions): Promise<MediaWorkerPool> {
    // mediasoup fixes its worker binary from MEDIASOUP_WORKER_BIN when first
    // loaded, so the variable is set before the (dynamic) import.
    if (options.workerBin) process.env.MEDIASOUP_WORKER_BIN = options.workerBin;
    const mediasoup = await import("mediasoup");
    if (options.workerBin && mediasoup.workerBin !== options.workerBin)
      throw new Error(`mediasoup was loaded before MEDIASOUP_WORKER_BIN was set; it uses ${mediasoup.workerBin}`);
    const pool = new MediaWorkerPool(options, options.createWorker?.(mediasoup.createWorker) ?? mediasoup.createWorker);
    await Promise.all(Array.from({ length: options.workers }, () => pool.#spawn()));
    return pool;
  }

  readonly #createWorker: typeof Mediasoup.createWorker;

  private constructor(options: MediaWorkerPoolOptions, createWorker: typeof Mediasoup.createWorker) {
    super();
    this.#options = options;
    this.#createWorker = createWorker;
  }

  get size(): number {
    return this.#entries.size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Per-worker view for /ready and the admin monitor. */
  describe(): { pid: number; sessions: number }[] {
    return [...this.#entries].map((e) => ({ pid: e.worker.pid, sessions: e.sessions }));
  }

  /** Live transports per router, from the workers themselves (leak checks, admin monitor). */
  async transportCounts(): Promise<{ pid: number; transports: number }[]> {
    return Promise.all(
      [...this.#entries].map(async (e) => ({
        pid: e.worker.pid,
        transports: (await e.router.dump()).transportIds.length,
      })),
    );
  }

  /**
   * Each worker's CPU time (user + system, ms, from getrusage in the worker)
   * and live transports: the admin monitor turns CPU time into a share of a
   * core between two samples.
   */
  async usage(): Promise<{ pid: number; sessions: number; routers: number; transports: number; cpuMs: number }[]> {
    return Promise.all(
      [...this.#entries].map(async (e) => {
        const [usage, dump] = await Promise.all([e.worker.getResourceUsage(), e.router.dump()]);
        return {
          pid: e.worker.pid,
          sessions: e.sessions,
          routers: 1,
          transports: dump.transportIds.length,
          cpuMs: usage.ru_utime + usage.ru_stime,
        };
      }),
    );
  }

  /** The least loaded router; the caller must call the returned release() when done. */
  acquireRouter(): { router: Router; pid: number; release: () => void } | undefined {
    let best: PoolEntry | undefined;
    for (const entry of this.#entries) {
      // A worker that just died may still be listed while its routers close.
      if (entry.worker.died || entry.worker.closed || entry.router.closed) continue;
      if (!best || entry.sessions < best.sessions) best = entry;
    }
    if (!best) return undefined;
    const entry = best;
    entry.sessions++;
    let released = false;
    return {
      router: entry.router,
      pid: entry.worker.pid,
      release: () => {
        if (released) return;
        released = true;
        entry.sessions--;
      },
    };
  }

  /** Kills a worker as a crash would (tests and the admin "drain" action). */
  killWorker(pid: number): boolean {
    for (const entry of this.#entries) {
      if (entry.worker.pid === pid) {
        process.kill(pid, "SIGKILL");
        return true;
      }
    }
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries) {
      entry.watchdog.stop();
      entry.worker.close();
    }
    this.#entries.clear();
  }

  async #spawn(): Promise<void> {
    const { logger } = this.#options;
    const worker = await this.#createWorker({
      logLevel: this.#options.logLevel ?? "warn",
      rtcMinPort: this.#options.rtcMinPort,
      rtcMaxPort: this.#options.rtcMaxPort,
    });
    let router: Router;
    try {
      router = await worker.createRouter({ mediaCodecs: AUDIO_CODECS });
    } catch (error) {
      worker.close(); // no entry holds it: it would live on unused
      throw error;
    }
    if (this.#closed) {
      worker.close();
      return;
    }
    const unwatched = { worker, router, sessions: 0, killedAsHung: false };
    const entry: PoolEntry = Object.assign(unwatched, { watchdog: this.#watch(unwatched) });
    this.#entries.add(entry);
    logger.info({ pid: worker.pid }, "mediasoup worker started");
    worker.on("died", (error) => {
      entry.watchdog.stop();
      this.#entries.delete(entry);
      const cause: WorkerDeathCause = entry.killedAsHung ? "hung" : "crashed";
      logger.error({ pid: worker.pid, err: error, cause }, "mediasoup worker died");
      this.#emitSafely("workerdied", worker.pid, error, cause);
      this.#replace(worker.pid, this.#options.respawnDelayMs ?? 500);
    });
  }

  /**
   * Kills a worker that stopped answering: only its death (mediasoup's "died")
   * closes its routers and moves its sessions, so a hang is turned into one.
   */
  #watch(entry: Omit<PoolEntry, "watchdog">): WorkerWatchdog {
    const { worker } = entry;
    const timing = {
      checkIntervalMs: this.#options.workerCheckIntervalMs ?? DEFAULT_WATCHDOG_TIMING.checkIntervalMs,
      hungAfterMs: this.#options.workerHungAfterMs ?? DEFAULT_WATCHDOG_TIMING.hungAfterMs,
    };
    return new WorkerWatchdog(worker, timing, (waitedMs) => {
      entry.killedAsHung = true;
      this.#options.logger.error({ pid: worker.pid, waitedMs }, "mediasoup worker hung: killing it");
      try {
        process.kill(worker.pid, "SIGKILL");
      } catch (err) {
        this.#options.logger.error({ pid: worker.pid, err }, "could not kill hung mediasoup worker");
      }
    });
  }

  /**
   * Starts a worker in place of a dead one, trying again (with a growing wait)
   * until one starts: a pool left a worker short for good would refuse
   * conversations, and with none left keep /ready failing until a restart.
   */
  #replace(deadPid: number, delayMs: number): void {
    if (this.#closed) return;
    setTimeout(() => {
      if (this.#closed) return;
      this.#spawn().then(
        () => this.#emitSafely("workerreplaced", deadPid),
        (err: unknown) => {
          const retryMs = Math.min(Math.max(delayMs, 250) * 2, MAX_RESPAWN_DELAY_MS);
          this.#options.logger.error({ err, deadPid, retryMs }, "could not replace mediasoup worker: trying again");
          this.#replace(deadPid, retryMs);
        },
      );
    }, delayMs).unref();
  }

  #emitSafely<K extends keyof MediaWorkerPoolEvents>(event: K, ...args: MediaWorkerPoolEvents[K]): void {
    try {
      (this.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.#options.logger.error({ err, event }, "listener threw");
    }
  }
}
