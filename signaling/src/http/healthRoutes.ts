// Liveness, readiness and Prometheus metrics. /health is public (it says
// only that the process is up). /ready and /metrics describe the node's
// insides: they are served on the internal listener (INTERNAL_HOST, loopback
// by default), and on the public one only to `Authorization: Bearer
// <METRICS_AUTH_TOKEN>`; without a token the public listener does not know them.
import { createHash, timingSafeEqual } from "node:crypto";
import { register } from "../metrics.ts";
import type { TemplatedApp } from "../uws.ts";
import type { HttpEdge } from "./HttpEdge.ts";
import type { ReadinessCheck } from "./ReadinessCheck.ts";
import { type Handler, json } from "./respond.ts";

export interface HealthDeps {
  readiness: ReadinessCheck;
  metricsEnabled: boolean;
}

const digest = (text: string) => createHash("sha256").update(text).digest();

/** A check of `Authorization: Bearer <token>` in constant time. */
function bearer(token: string): (authorization: string) => boolean {
  const expected = digest(`Bearer ${token}`);
  return (authorization) => timingSafeEqual(digest(authorization), expected);
}

function routes(deps: HealthDeps) {
  const ready: Handler = () => deps.readiness.check();
  const metrics: Handler = async () =>
    deps.metricsEnabled
      ? { status: 200, body: await register.metrics(), contentType: register.contentType }
      : json(404, { error: "metrics disabled" });
  return { ready, metrics };
}

const health: Handler = () => json(200, { status: "ok" });

/** The internal listener: everything, unauthenticated (it is not reachable from outside). */
export function mountInternalRoutes(app: TemplatedApp, edge: HttpEdge, deps: HealthDeps): void {
  const { ready, metrics } = routes(deps);
  edge.route(app, "/health", { GET: health });
  edge.route(app, "/ready", { GET: ready });
  edge.route(app, "/metrics", { GET: metrics });
  edge.mountNotFound(app);
}

/** The public listener: /health; /ready and /metrics only with the bearer token. */
export function mountPublicHealthRoutes(app: TemplatedApp, edge: HttpEdge, deps: HealthDeps, token?: string): void {
  const { ready, metrics } = routes(deps);
  edge.route(app, "/health", { GET: health });
  const authorized = token ? bearer(token) : undefined;
  const guard =
    (handler: Handler): Handler =>
    (ctx) => {
      if (!authorized) return json(404, { error: "not found" });
      if (!authorized(ctx.info.authorization))
        return json(401, { error: "bearer token required" }, { "www-authenticate": 'Bearer realm="parley"' });
      return handler(ctx);
    };
  edge.route(app, "/ready", { GET: guard(ready) });
  edge.route(app, "/metrics", { GET: guard(metrics) });
}
