// The customer app, served from memory; unknown paths without an extension
// get index.html (client-side routes), except under /api/, which is the
// API's. Everything else nobody routed: 404, or 405 for a method other than
// GET/HEAD on a path that exists.
import type { Logger } from "pino";
import type { TemplatedApp } from "../uws.ts";
import type { HttpEdge } from "./HttpEdge.ts";
import { type Handler, json } from "./respond.ts";
import { loadStaticFiles } from "./staticFiles.ts";

export function mountStaticRoutes(app: TemplatedApp, edge: HttpEdge, dir: string, logger: Logger): void {
  const files = loadStaticFiles(dir);
  if (files.size === 0) logger.warn({ dir }, "customer app not built: run `pnpm --filter @parley/client build`");
  const find = (url: string) =>
    files.get(url) ?? (url.includes(".") || url.startsWith("/api/") ? undefined : files.get("/index.html"));
  const serve: Handler = ({ info }) => {
    const file = find(info.url);
    if (!file) return json(404, { error: "not found" });
    return {
      status: 200,
      body: file.body,
      contentType: file.contentType,
      headers: {
        "cache-control": info.url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
      },
    };
  };
  app.get("/*", edge.handle("static", serve));
  app.head("/*", edge.handle("static", serve, { head: true }));
  edge.mountNotFound(app, (url) => find(url) !== undefined);
}
