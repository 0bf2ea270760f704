// What uWS HTTP handlers reply, and how a request is described before the
// handler's first await (uWS forbids touching `req` after it).
import { STATUS_CODES } from "node:http";
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

/** "404 Not Found": uWS takes the whole status line. */
export const statusLine = (status: number) => `${status} ${STATUS_CODES[status] ?? ""}`.trimEnd();

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
