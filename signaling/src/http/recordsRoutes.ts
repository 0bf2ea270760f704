// Mounts the records package's framework-free REST routes on the edge:
// business logins and their tenancy-checked reads, customer data access and
// deletion, the Stripe webhook (raw body) and reward claims. Through the
// edge they get the security headers, 405 with Allow, HEAD and CORS; a
// streamed body (the CSV export) is written by the edge as the client takes it.
import type { Route } from "@parley/records";
import type { TemplatedApp } from "../uws.ts";
import { type HttpEdge, isStreamBody, type Method, type StreamingHandler } from "./HttpEdge.ts";
import { json, readBody } from "./respond.ts";

export function mountRecordsRoutes(app: TemplatedApp, edge: HttpEdge, routes: readonly Route[]): void {
  const byPath = new Map<string, Partial<Record<Method, StreamingHandler>>>();
  for (const route of routes) {
    const handlers = byPath.get(route.path) ?? {};
    handlers[route.method] = handler(route);
    byPath.set(route.path, handlers);
  }
  for (const [path, handlers] of byPath) edge.route(app, path, handlers);
}

function handler(route: Route): StreamingHandler {
  const paramNames = route.path
    .split("/")
    .filter((segment) => segment.startsWith(":"))
    .map((segment) => segment.slice(1));
  const hasBody = route.method === "POST" || route.method === "PUT" || route.method === "PATCH";
  return async ({ res, req, info }) => {
    // Everything from req before the first await: uWS reuses it afterwards.
    const headers: Record<string, string> = {};
    req.forEach((name, value) => {
      headers[name] = value;
    });
    const params: Record<string, string> = {};
    try {
      paramNames.forEach((name, i) => {
        params[name] = decodeURIComponent(req.getParameter(i) ?? "");
      });
    } catch {
      return json(400, { error: "malformed path" });
    }
    const query = new URLSearchParams(req.getQuery() ?? "");
    let rawBody: Buffer = Buffer.alloc(0);
    if (hasBody) {
      try {
        rawBody = await readBody(res, route.maxBodyBytes);
      } catch {
        return json(413, { error: "body too large" });
      }
    }
    const reply = await route.handle({ params, query, headers, rawBody, ip: info.clientIp });
    const { "content-type": contentType, ...rest } = reply.headers;
    const head = { status: reply.status, contentType: contentType ?? "application/octet-stream", headers: rest };
    // The same object either way: the check only tells the type which of the edge's two reply kinds it is.
    return isStreamBody(reply.body) ? { ...head, body: reply.body } : { ...head, body: reply.body };
  };
}
