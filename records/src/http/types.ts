// Framework-free HTTP: a route is a method, a path pattern (":name" segments,
// the syntax uWS and most routers share) and a handler from a small request
// object to a reply. The node's uWS edge mounts them with a thin adapter; tests
// call them directly or through node:http (node-adapter.ts). A reply too large
// to hold (an export) streams its body instead.
import type { Role } from "../auth/token.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Who is calling, resolved from the request's headers before the handler runs. */
export type Auth =
  | { kind: "anonymous" }
  | {
      kind: "user";
      userId: string;
      role: Role;
      businessId: string | null;
      /** Staff limited to these stores of the business; undefined: every store. */
      storeCodes: readonly string[] | undefined;
    }
  /** A customer holding the data code of one session. */
  | { kind: "customer"; sessionId: string };

export interface RecordsRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Lower-case names. */
  headers: Record<string, string | undefined>;
  rawBody: Buffer;
  ip: string;
  auth: Auth;
}

/**
 * A body written as it is produced, in chunked transfer encoding. The adapter pulls the next chunk
 * only once the last one is written (so a slow client slows the producer instead of piling up
 * chunks), and calls the iterator's return() when the client goes away (so an async generator stops
 * and runs its `finally`). Status and headers go out before the first chunk: a failure midway can
 * only cut the connection.
 */
export type BodyStream = AsyncIterable<Uint8Array>;

export interface RecordsResponse {
  status: number;
  headers: Record<string, string>;
  /** Whole, or a stream (see BodyStream). */
  body: string | Buffer | BodyStream;
}

export const isBodyStream = (body: RecordsResponse["body"]): body is BodyStream =>
  typeof body !== "string" && !(body instanceof Uint8Array);

export interface Route {
  method: Method;
  path: string;
  /** Bodies beyond this are refused with 413 (the adapter may stop reading there). */
  maxBodyBytes: number;
  /** Authenticates from the headers, then runs the handler; never throws. */
  handle(request: Omit<RecordsRequest, "auth">): Promise<RecordsResponse>;
}

export const json = (status: number, value: unknown, headers: Record<string, string> = {}): RecordsResponse => ({
  status,
  headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  body: JSON.stringify(value),
});

/** Matches a path against a pattern; the params, or undefined. */
export function matchPath(pattern: string, path: string): Record<string, string> | undefined {
  const p = pattern.split("/");
  const s = path.split("/");
  if (p.length !== s.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i]!.startsWith(":")) {
      if (!s[i]) return undefined;
      try {
        params[p[i]!.slice(1)] = decodeURIComponent(s[i]!);
      } catch {
        return undefined;
      }
    } else if (p[i] !== s[i]) return undefined;
  }
  return params;
}
