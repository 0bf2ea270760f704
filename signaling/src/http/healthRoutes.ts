// Liveness, readiness and Prometheus metrics.
import type { AsrWorkerPool, Scoring } from "@parley/inference-bridge";
import type { MediaWorkerPool } from "@parley/media";
import { register } from "../metrics.ts";
import type { TemplatedApp } from "../uws.ts";
import { handle, json } from "./respond.ts";

export interface HealthDeps {
  mediaPool: MediaWorkerPool;
  asrPool: AsrWorkerPool;
  scoring: Scoring;
  metricsEnabled: boolean;
}

export function mountHealthRoutes(app: TemplatedApp, deps: HealthDeps): void {
  app.get(
    "/health",
    handle("/health", () => json(200, { status: "ok" })),
  );

  app.get(
    "/ready",
    handle("/ready", async () => {
      const [workers, llm] = await Promise.all([
        deps.asrPool.probe(1_000),
        deps.scoring.ollama?.probe(AbortSignal.timeout(1_000)).catch(() => ({ reachable: false, modelPresent: false })),
      ]);
      const media = deps.mediaPool.describe();
      // Ollama is not required: the built-in scorer takes over, so it is reported, not gated on.
      const ready = media.length > 0 && workers.some((w) => w.ok);
      return json(ready ? 200 : 503, {
        ready,
        media,
        scoring: { engine: deps.scoring.engine.name, ...(llm ? { ollama: llm } : {}) },
        asr: workers.map((w) => ({
          address: w.address,
          ok: w.ok,
          engine: w.info?.engine,
          activeStreams: w.info?.activeStreams,
          maxStreams: w.info?.maxStreams,
          lagMs: w.info?.lagMs,
          error: w.error,
        })),
      });
    }),
  );

  app.get(
    "/metrics",
    handle("/metrics", async () =>
      deps.metricsEnabled
        ? { status: 200, body: await register.metrics(), contentType: register.contentType }
        : json(404, { error: "metrics disabled" }),
    ),
  );
}
