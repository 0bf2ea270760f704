// The HTTP side of the edge: every route goes through here, so every
// response carries the security headers, every request is counted, every
// known route answers wrong methods with 405 and Allow, HEAD like GET, and
// OPTIONS per the CORS policy (the node's own origin, plus ALLOWED_ORIGINS).
// A reply is whole, or streamed (StreamedReply) for one too large to hold.

import type { Logger } from "pino";
import type { ClientIpResolver } from "../edge/ClientIpResolver.ts";
import { OriginPolicy } from "../edge/OriginPolicy.ts";
import { httpRequestDuration, httpRequestsTotal } from "../metrics.ts";
import type { HttpRequest, HttpResponse, TemplatedApp } from "../uws.ts";
import { empty, json, type Reply, type RequestContext, type RequestInfo, statusLine } from "./respond.ts";
import { securityHeaders } from "./securityHeaders.ts";

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Methods that change nothing: a cross-origin page may not send the others unless listed. */
const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
/** Request headers a listed origin may send cross-origin. */
const CORS_HEADERS = new Set(["content-type", "authorization", "x-parley-data-code"]);
const PREFLIGHT_MAX_AGE_S = "600";

/** A reply whose body is written as it is produced (chunked transfer encoding): see HttpEdge.#stream. */
export interface StreamedReply extends Omit<Reply, "body"> {
  body: AsyncIterable<Uint8Array>;
}

export const isStreamBody = (body: Reply["body"] | StreamedReply["body"]): body is StreamedReply["body"] =>
  typeof body !== "string" && !(body instanceof Uint8Array);

const isStreamed = (reply: Reply | StreamedReply): reply is StreamedReply => isStreamBody(reply.body);

/** A handler (respond.ts) that may also stream its reply. */
export type StreamingHandler = (ctx: RequestContext) => Promise<Reply | StreamedReply> | Reply | StreamedReply;

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
  route(
    app: TemplatedApp,
    pattern: string,
    handlers: Partial<Record<Method, StreamingHandler>>,
    route = pattern,
  ): void {
    const methods = Object.keys(handlers) as Method[];
    const allow = [...methods, ...(handlers.GET ? ["HEAD"] : []), "OPTIONS"].join(", ");
    if (handlers.GET) {
      app.get(pattern, this.handle(route, handlers.GET));
      app.head(pattern, this.handle(route, handlers.GET, { head: true }));
    }
    if (handlers.POST) app.post(pattern, this.handle(route, handlers.POST));
    if (handlers.PUT) app.put(pattern, this.handle(route, handlers.PUT));
    if (handlers.PATCH) app.patch(pattern, this.handle(route, handlers.PATCH));
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
  handle(route: string, handler: StreamingHandler, options: { head?: boolean } = {}) {
    return (res: HttpResponse, req: HttpRequest): void => {
      const started = performance.now();
      let aborted = false;
      // A streamed reply waiting for onWritable, which uWS never calls once the client is gone.
      let wake = () => {};
      res.onAborted(() => {
        aborted = true;
        wake();
      });
      let info: RequestInfo;
      try {
        info = this.info(res, req);
      } catch (err) {
        this.refuseUnreadable(res, route, err);
        return;
      }
      const send = (reply: Reply | StreamedReply) => {
        // A stream is counted when its status goes out (its duration: to the headers, not the last byte).
        httpRequestsTotal.inc({ method: info.method, route, status_code: String(reply.status) });
        httpRequestDuration.observe({ method: info.method, route }, (performance.now() - started) / 1000);
        if (isStreamed(reply)) {
          const writable = () =>
            new Promise<void>((resolve) => {
              wake = resolve;
              res.onWritable(() => {
                resolve();
                return true; // nothing written here: the next chunk is pulled, then written (corked)
              });
            });
          void this.#stream(res, reply, info, route, options.head, { aborted: () => aborted, writable });
        } else if (!aborted) this.write(res, reply, info, options.head);
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

  /**
   * A request the edge could not take in (reading its headers threw): answered 400, and logged, as
   * the bug it is. Nothing is thrown from here, even at a response uWS no longer takes: a throw in
   * uWS's callback would end the process, and every conversation on the node with it.
   */
  refuseUnreadable(res: HttpResponse, route: string, err: unknown): void {
    this.#logger.error({ err, route }, "request could not be read");
    httpRequestsTotal.inc({ method: "unreadable", route, status_code: "400" });
    try {
      this.write(res, json(400, { error: "the request could not be read" }), { origin: "", host: "" });
    } catch (writeErr) {
      this.#logger.error({ err: writeErr, route }, "the refusal of an unreadable request could not be written");
    }
  }

  /** Writes a whole reply with the security headers (and CORS headers for a listed origin). */
  write(res: HttpResponse, reply: Reply, info: Pick<RequestInfo, "origin" | "host">, head = false): void {
    res.cork(() => {
      this.#writeHead(res, reply, info);
      if (head) res.endWithoutBody(typeof reply.body === "string" ? Buffer.byteLength(reply.body) : reply.body.length);
      else res.end(reply.body);
    });
  }

  /** Status and headers: the security headers, CORS for a listed origin, then the reply's own. Corked by the caller. */
  #writeHead(res: HttpResponse, reply: Omit<Reply, "body">, info: Pick<RequestInfo, "origin" | "host">): void {
    res.writeStatus(statusLine(reply.status));
    for (const [name, value] of this.#headers) res.writeHeader(name, value);
    if (info.origin && this.#crossOriginAllowed(info.origin, info.host)) {
      res.writeHeader("access-control-allow-origin", info.origin);
      res.writeHeader("vary", "Origin");
    }
    res.writeHeader("content-type", reply.contentType);
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.writeHeader(name, value);
  }

  /**
   * Writes a streamed reply: status and headers at once, then each chunk as the client takes it, in
   * chunked transfer encoding (uWS's for writes without a content-length). A chunk that write() could
   * not send whole stays in uWS's buffer until onWritable, and only then is the next one pulled: a slow
   * client holds about one chunk here and makes the producer (a database read) wait. Once the client is
   * gone `res` is not touched again and the body's iterator is returned, so its producer stops. A failure
   * midway can only cut the connection (the status is out); it is logged. HEAD sends the headers only.
   */
  async #stream(
    res: HttpResponse,
    reply: StreamedReply,
    info: RequestInfo,
    route: string,
    head: boolean | undefined,
    client: { aborted(): boolean; writable(): Promise<void> },
  ): Promise<void> {
    const chunks = reply.body[Symbol.asyncIterator]();
    let finished = false; // the body ended or threw: nothing to return()
    try {
      if (client.aborted()) return;
      res.cork(() => {
        this.#writeHead(res, reply, info);
        if (head) res.endWithoutBody();
      });
      if (head) return;
      for (;;) {
        const next = await chunks.next().catch((error: unknown) => {
          finished = true;
          throw error;
        });
        finished = next.done === true;
        if (client.aborted()) return;
        if (next.done) {
          res.cork(() => res.end());
          return;
        }
        let sent = true;
        res.cork(() => {
          sent = res.write(next.value);
        });
        if (!sent) await client.writable(); // or the client left
        if (client.aborted()) return;
      }
    } catch (err) {
      this.#logger.error({ err, method: info.method, route }, "streamed reply failed: connection closed");
      if (!client.aborted()) res.close();
    } finally {
      if (!finished)
        await chunks.return?.().catch((err: unknown) => {
          this.#logger.error({ err, method: info.method, route }, "streamed reply failed to stop");
        });
    }
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
