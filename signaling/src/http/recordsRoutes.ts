// Mounts the records package's framework-free REST routes on uWS: business
// logins and their tenancy-checked reads, customer data access and deletion,
// the Stripe webhook (raw body) and reward claims.
import type { Route } from "@parley/records";
import type { HttpRequest, HttpResponse, TemplatedApp } from "../uws.ts";
import { handle, json, readBody, remoteAddress } from "./respond.ts";

const MOUNT = { GET: "get", POST: "post", PUT: "put", DELETE: "del" } as const;

export function mountRecordsRoutes(app: TemplatedApp, routes: readonly Route[]): void {
  for (const route of routes) {
    const paramNames = route.path
      .split("/")
      .filter((segment) => segment.startsWith(":"))
      .map((segment) => segment.slice(1));
    const hasBody = route.method === "POST" || route.method === "PUT";
    app[MOUNT[route.method]](
      route.path,
      handle(route.path, async (res: HttpResponse, req: HttpRequest) => {
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
        const ip = remoteAddress(res);
        let rawBody: Buffer = Buffer.alloc(0);
        if (hasBody) {
          try {
            rawBody = await readBody(res, route.maxBodyBytes);
          } catch {
            return json(413, { error: "body too large" });
          }
        }
        const reply = await route.handle({ params, query, headers, rawBody, ip });
        const { "content-type": contentType, ...rest } = reply.headers;
        return {
          status: reply.status,
          body: reply.body,
          contentType: contentType ?? "application/octet-stream",
          headers: rest,
        };
      }),
    );
  }
}
