// /ready: media workers alive and a speech worker answering. Probes
// (gRPC to every speech worker, HTTP to Ollama) run at most once per
// `maxAgeMs`, and concurrent requests share one run: polling /ready hard
// cannot turn into load on the workers.
import type { AsrWorkerPool, Scoring } from "@parley/inference-bridge";
import type { MediaWorkerPool } from "@parley/media";
import { json, type Reply } from "./respond.ts";

export interface ReadinessDeps {
  mediaPool: MediaWorkerPool;
  asrPool: AsrWorkerPool;
  scoring: Scoring;
  /** The node is shutting down: not ready, whatever else holds. */
  draining?: () => boolean;
}

export class ReadinessCheck {
  readonly #deps: ReadinessDeps;
  readonly #maxAgeMs: number;
  #last: { at: number; reply: Promise<Reply> } | undefined;

  constructor(deps: ReadinessDeps, maxAgeMs = 1_000) {
    this.#deps = deps;
    this.#maxAgeMs = maxAgeMs;
  }

  check(): Promise<Reply> {
    const now = performance.now();
    // Draining answers at once: the load balancer must stop sending new customers now.
    if (this.#deps.draining?.()) return Promise.resolve(json(503, { ready: false, draining: true }));
    if (this.#last && now - this.#last.at < this.#maxAgeMs) return this.#last.reply;
    const reply = this.#run();
    this.#last = { at: now, reply };
    return reply;
  }

  async #run(): Promise<Reply> {
    const { asrPool, scoring, mediaPool } = this.#deps;
    const [workers, llm] = await Promise.all([
      asrPool.probe(1_000, this.#maxAgeMs),
      scoring.ollama?.probe(AbortSignal.timeout(1_000)).catch(() => ({ reachable: false, modelPresent: false })),
    ]);
    const media = mediaPool.describe();
    // Ollama is not required: the built-in scorer takes over, so it is reported, not gated on.
    const draining = this.#deps.draining?.() ?? false;
    const ready = !draining && media.length > 0 && workers.some((w) => w.ok);
    return json(ready ? 200 : 503, {
      ready,
      draining,
      media,
      scoring: { engine: scoring.engine.name, ...(llm ? { ollama: llm } : {}) },
      asr: workers.map((w) => ({
        address: w.address,
        ok: w.ok,
        engine: w.info?.engine,
        maxStreams: w.info?.maxStreams,
        activeStreams: w.info?.activeStreams,
        lagMs: w.info?.lagMs,
        error: w.error,
      })),
    });
  }
}
