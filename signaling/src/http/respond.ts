// What uWS HTTP handlers reply, and how a request is described before the
// handler's first await (uWS forbids touching `req` after it).
import type { HttpRequest, HttpResponse } from "../uws.ts";

export interface Reply {
  status: number;
  body: string | Uint8Array;
  contentType: string;
  headers?: Record<string, string>;
}

export const json = (status: number, value: unknown, headers?: Record<string, string>): Reply => ({
  status,
  body: JSON.stringify(value),
  contentType: "application/json",
  ...(headers ? { headers } : {}),
});

/** An empty reply (204, and answers to OPTIONS). */
export const empty = (status: number, headers?: Record<string, string>): Reply => ({
  status,
  body: "",
  contentType: "text/plain",
  ...(headers ? { headers } : {}),
});

const STATUS_TEXT: Record<number, string> = {
  200: "200 OK",
  201: "201 Created",
  204: "204 No Content",
  400: "400 Bad Request",
  401: "401 Unauthorized",
  403: "403 Forbidden",
  404: "404 Not Found",
  405: "405 Method Not Allowed",
  413: "413 Payload Too Large",
  415: "415 Unsupported Media Type",
  426: "426 Upgrade Required",
  429: "429 Too Many Requests",
  500: "500 Internal Server Error",
  503: "503 Service Unavailable",
};

export const statusLine = (status: number) => STATUS_TEXT[status] ?? String(status);

/** A request as handlers see it: copied out of `req` at once. */
export interface RequestInfo {
  /** Upper case: GET, POST, ... */
  method: string;
  url: string;
  /** The client's address (X-Forwarded-For only from a trusted proxy). */
  clientIp: string;
  /** The Origin header, "" when absent. */
  origin: string;
  host: string;
  authorization: string;
}

export interface RequestContext {
  res: HttpResponse;
  req: HttpRequest;
  info: RequestInfo;
  aborted: () => boolean;
}

export type Handler = (ctx: RequestContext) => Promise<Reply> | Reply;

/** Reads a request body up to `limit` bytes; rejects with 413 beyond it. */
export function readBody(res: HttpResponse, limit: number): Promise<Buffer> {
  const body = new Promise<Buffer>((resolve, reject) => {
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
  // A handler may answer before it reads the body (a wrong content type):
  // a body that then turns out too large must not become an unhandled rejection.
  body.catch(() => {});
  return body;
}
