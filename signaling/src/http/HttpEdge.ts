// The HTTP side of the edge: every route goes through here, so every
// response carries the security headers, every request is counted, every
// known route answers wrong methods with 405 and Allow, HEAD like GET, and
// OPTIONS per the CORS policy (the node's own origin, plus ALLOWED_ORIGINS).

import type { Logger } from "pino";
import type { ClientIpResolver } from "../edge/ClientIpResolver.ts";
import { OriginPolicy } from "../edge/OriginPolicy.ts";
import { httpRequestDuration, httpRequestsTotal } from "../metrics.ts";
import type { HttpRequest, HttpResponse, TemplatedApp } from "../uws.ts";
import { empty, type Handler, json, type Reply, type RequestInfo, statusLine } from "./respond.ts";
import { securityHeaders } from "./securityHeaders.ts";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

/** Methods that change nothing: a cross-origin page may not send the others unless listed. */
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** Request headers a listed origin may send cross-origin. */
const CORS_HEADERS = new Set(["content-type", "authorization", "x-parley-data-code"]);
const PREFLIGHT_MAX_AGE_S = "600";

export interface HttpEdgeOptions {
  tls: boolean;
  origins: OriginPolicy;
  clientIps: ClientIpResolver;
  /** Where a handler's failure is logged (the client gets a bare 500). */
  logger: Logger;
}

export class HttpEdge {
  readonly origins: OriginPolicy;
  readonly clientIps: ClientIpResolver;
  readonly #headers: readonly (readonly [string, string])[];

  readonly #logger: Logger;

  constructor(options: HttpEdgeOptions) {
    this.#logger = options.logger;
    this.origins = options.origins;
    this.clientIps = options.clientIps;
    this.#headers = securityHeaders({ tls: options.tls });
  }

  /** Copies what handlers need out of `req` (valid only until the first await). */
  info(res: HttpResponse, req: HttpRequest): RequestInfo {
    return {
      method: req.getMethod().toUpperCase(),
      url: req.getUrl(),
      clientIp: this.clientIps.resolve(
        Buffer.from(res.getRemoteAddressAsText()).toString(),
        req.getHeader("x-forwarded-for"),
      ),
      origin: req.getHeader("origin"),
      host: req.getHeader("host"),
      authorization: req.getHeader("authorization"),
    };
  }

  /**
   * Registers `pattern` with its handlers, HEAD for GET, OPTIONS, and 405
   * with Allow for every other method. `route` labels the metrics.
   */
  route(app: TemplatedApp, pattern: string, handlers: Partial<Record<Method, Handler>>, route = pattern): void {
    const methods = Object.keys(handlers) as Method[];
    const allow = [...methods, ...(handlers.GET ? ["HEAD"] : []), "OPTIONS"].join(", ");
    if (handlers.GET) {
      app.get(pattern, this.handle(route, handlers.GET));
      app.head(pattern, this.handle(route, handlers.GET, { head: true }));
    }
    if (handlers.POST) app.post(pattern, this.handle(route, handlers.POST));
    if (handlers.PUT) app.put(pattern, this.handle(route, handlers.PUT));
    if (handlers.DELETE) app.del(pattern, this.handle(route, handlers.DELETE));
    app.options(
      pattern,
      this.handle(route, ({ req, info }) => this.#options(info, req, methods, allow)),
    );
    app.any(
      pattern,
      this.handle(route, ({ info }) =>
        json(405, { error: `${info.method} is not allowed here; use ${allow}` }, { allow }),
      ),
    );
  }

  /** Wraps a handler: aborts respected, reply corked and counted, cross-origin writes refused. */
  handle(route: string, handler: Handler, options: { head?: boolean } = {}) {
    return (res: HttpResponse, req: HttpRequest): void => {
      const started = performance.now();
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const info = this.info(res, req);
      const send = (reply: Reply) => {
        httpRequestsTotal.inc({ method: info.method, route, status_code: String(reply.status) });
        httpRequestDuration.observe({ method: info.method, route }, (performance.now() - started) / 1000);
        if (!aborted) this.write(res, reply, info, options.head);
      };
      if (!SAFE.has(info.method) && !this.origins.allows(info.origin, info.host)) {
        send(json(403, { error: "this origin may not call this API" }));
        return;
      }
      const failed = (err: unknown) => {
        // The client learns nothing of the cause; the log has it (a database down, a bug).
        this.#logger.error({ err, method: info.method, route }, "request failed");
        send(json(500, { error: "internal error" }));
      };
      try {
        const result = handler({ res, req, info, aborted: () => aborted });
        if (result instanceof Promise) result.then(send, failed);
        else send(result);
      } catch (err) {
        failed(err);
      }
    };
  }

  /** Writes a whole reply with the security headers (and CORS headers for a listed origin). */
  write(res: HttpResponse, reply: Reply, info: Pick<RequestInfo, "origin" | "host">, head = false): void {
    res.cork(() => {
      res.writeStatus(statusLine(reply.status));
      for (const [name, value] of this.#headers) res.writeHeader(name, value);
      if (info.origin && this.#crossOriginAllowed(info.origin, info.host)) {
        res.writeHeader("access-control-allow-origin", info.origin);
        res.writeHeader("vary", "Origin");
      }
      res.writeHeader("content-type", reply.contentType);
      for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
      if (head) res.endWithoutBody(typeof reply.body === "string" ? Buffer.byteLength(reply.body) : reply.body.length);
      else res.end(reply.body);
    });
  }

  /** Answers everything no route took: 404 (after the static files, which take GET and HEAD). */
  mountNotFound(app: TemplatedApp, isKnownPath: (url: string) => boolean = () => false): void {
    app.any(
      "/*",
      this.handle("unmatched", ({ info }) =>
        isKnownPath(info.url)
          ? json(405, { error: `${info.method} is not allowed here; use GET, HEAD` }, { allow: "GET, HEAD" })
          : json(404, { error: "not found" }),
      ),
    );
  }

  #crossOriginAllowed(origin: string, host: string): boolean {
    return this.origins.isListed(origin) && !OriginPolicy.sameOrigin(origin, host);
  }

  /** OPTIONS: a CORS preflight from a listed origin, or a plain question about the methods. */
  #options(info: RequestInfo, req: HttpRequest, methods: Method[], allow: string): Reply {
    const requested = req.getHeader("access-control-request-method").toUpperCase();
    if (!info.origin || !requested) return empty(204, { allow });
    if (!this.origins.isListed(info.origin))
      return this.origins.allows(info.origin, info.host)
        ? empty(204, { allow }) // same origin: nothing to grant
        : json(403, { error: "this origin may not call this API" });
    const headers = req
      .getHeader("access-control-request-headers")
      .split(",")
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean);
    if (!(methods as string[]).includes(requested) || headers.some((h) => !CORS_HEADERS.has(h)))
      return json(403, { error: "this request is not allowed cross-origin" });
    return empty(204, {
      allow,
      "access-control-allow-methods": methods.join(", "),
      "access-control-allow-headers": [...CORS_HEADERS].join(", "),
      "access-control-max-age": PREFLIGHT_MAX_AGE_S,
    });
  }
}
