// uWebSockets.js, native build only. The package we use (a republish of
// uWS.js, aliased as "uWebSockets.js") silently falls back to a slow pure-JS
// implementation when its binary fails to load; we load the binary ourselves
// so that failure is loud. PARLEY_ALLOW_UWS_FALLBACK=1 (config.allowUwsFallback) accepts the fallback.

import type * as UWS from "uWebSockets.js";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

export type Uws = typeof UWS;

export function loadUws(allowFallback: boolean): Uws {
  const binary = `uWebSockets.js/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    return require(binary) as typeof UWS;
  } catch (error) {
    if (allowFallback) {
      console.error(
        `uWebSockets.js native build failed to load (${(error as Error).message}); using the SLOW JS fallback`,
      );
      return require("uWebSockets.js") as typeof UWS;
    }
    throw new Error(
      `uWebSockets.js native build failed to load for Node ABI ${process.versions.modules} on ${process.platform}-${process.arch}: ${(error as Error).message}. ` +
        "Refusing to run on the slow fallback (set PARLEY_ALLOW_UWS_FALLBACK=1 to accept it).",
    );
  }
}

export type {
  HttpRequest,
  HttpResponse,
  TemplatedApp,
  us_listen_socket,
  us_socket_context_t,
  WebSocket,
} from "uWebSockets.js";
