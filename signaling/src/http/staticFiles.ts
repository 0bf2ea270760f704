// Serves the built customer app (client/dist) from memory: it is small, and
// reading it once keeps file I/O off the request path.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json",
  ".webmanifest": "application/manifest+json",
};

export interface StaticFile {
  body: Buffer;
  contentType: string;
}

export function loadStaticFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (!existsSync(dir)) return files;
  const walk = (folder: string) => {
    for (const name of readdirSync(folder)) {
      const full = path.join(folder, name);
      if (statSync(full).isDirectory()) walk(full);
      else
        files.set(`/${path.relative(dir, full).split(path.sep).join("/")}`, {
          body: readFileSync(full),
          contentType: TYPES[path.extname(name)] ?? "application/octet-stream",
        });
    }
  };
  walk(dir);
  return files;
}
