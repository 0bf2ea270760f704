// The customer app, served from memory; unknown paths without an extension
// get index.html (client-side routes).
import type { Logger } from "pino";
import type { TemplatedApp } from "../uws.ts";
import { handle, json } from "./respond.ts";
import { loadStaticFiles } from "./staticFiles.ts";

export function mountStaticRoutes(app: TemplatedApp, dir: string, logger: Logger): void {
  const files = loadStaticFiles(dir);
  if (files.size === 0) logger.warn({ dir }, "customer app not built: run `pnpm --filter @parley/client build`");
  app.get(
    "/*",
    handle("static", (_res, req) => {
      const url = req.getUrl();
      const file = files.get(url) ?? (url.includes(".") ? undefined : files.get("/index.html"));
      if (!file) return json(404, { error: "not found" });
      return {
        status: 200,
        body: file.body,
        contentType: file.contentType,
        headers: { "cache-control": url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache" },
      };
    }),
  );
}
