// The dashboard app (dashboard/dist: the business wall and the admin
// monitor), served from memory under /dashboard. Paths without an extension
// get its index.html (the app's own routes: /dashboard/, /dashboard/monitor).
import type { Logger } from "pino";
import type { TemplatedApp } from "../uws.ts";
import type { HttpEdge } from "./HttpEdge.ts";
import { type Handler, json } from "./respond.ts";
import { loadStaticFiles } from "./staticFiles.ts";

export const DASHBOARD_PATH = "/dashboard";

export function mountDashboardRoutes(app: TemplatedApp, edge: HttpEdge, dir: string, logger: Logger): void {
  const files = loadStaticFiles(dir);
  if (files.size === 0) logger.warn({ dir }, "dashboard not built: run `pnpm --filter @parley/dashboard build`");
  const serve: Handler = ({ info }) => {
    const url = info.url.slice(DASHBOARD_PATH.length) || "/";
    const file = files.get(url) ?? (url.includes(".") ? undefined : files.get("/index.html"));
    if (!file) return json(404, { error: "not found" });
    return {
      status: 200,
      body: file.body,
      contentType: file.contentType,
      headers: { "cache-control": url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache" },
    };
  };
  edge.route(app, DASHBOARD_PATH, { GET: serve }, "dashboard");
  edge.route(app, `${DASHBOARD_PATH}/*`, { GET: serve }, "dashboard");
}
