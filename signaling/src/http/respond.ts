// Small helpers for uWS HTTP handlers: uWS forbids touching `req` after the
// first await and `res` after an abort, so every handler goes through these.

import { STATUS_CODES } from "node:http";
import { httpRequestDuration, httpRequestsTotal } from "../metrics.ts";
import type { HttpRequest, HttpResponse } from "../uws.ts";

export interface Reply {
  status: number;
  body: string | Uint8Array;
  contentType: string;
  headers?: Record<string, string>;
}

export const json = (status: number, value: unknown): Reply => ({
  status,
  body: JSON.stringify(value),
  contentType: "application/json",
});

/** "404 Not Found": uWS takes the whole status line. */
export const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? ""}`.trimEnd();

/** The peer's address, copied (uWS reuses the buffer). */
export const remoteAddress = (res: HttpResponse) => Buffer.from(res.getRemoteAddressAsText()).toString();

/** Wraps an async handler: aborts are respected, the reply is corked, metrics are kept. */
export function handle(
  route: string,
  fn: (res: HttpResponse, req: HttpRequest, aborted: () => boolean) => Promise<Reply> | Reply,
) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const started = performance.now();
    const method = req.getMethod().toUpperCase();
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const send = (reply: Reply) => {
      httpRequestsTotal.inc({ method, route, status_code: String(reply.status) });
      httpRequestDuration.observe({ method, route }, (performance.now() - started) / 1000);
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(statusLine(reply.status));
        res.writeHeader("content-type", reply.contentType);
        for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v);
        res.end(reply.body);
      });
    };
    try {
      const result = fn(res, req, () => aborted);
      if (result instanceof Promise) result.then(send, () => send(json(500, { error: "internal error" })));
      else send(result);
    } catch {
      send(json(500, { error: "internal error" }));
    }
  };
}

/** Reads a request body up to `limit` bytes; rejects with 413 beyond it. */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    res.onData((chunk, isLast) => {
      size += chunk.byteLength;
      if (size > limit) {
        reject(Object.assign(new Error("body too large"), { status: 413 }));
        return;
      }
      parts.push(Buffer.from(chunk.slice(0))); // uWS reuses chunk
      if (isLast) resolve(Buffer.concat(parts));
    });
  });
}
