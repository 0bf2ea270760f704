// Serves records routes over node:http: for tests, and as the reference for
// the node's uWS adapter (copy headers, params, query and IP, read the body up
// to the route's limit, call route.handle, write status, headers and body,
// a streamed body chunk by chunk as the client takes it).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { type BodyStream, isBodyStream, json, matchPath, type RecordsResponse, type Route } from "./types.ts";

export async function serveRoutes(routes: Route[], port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (reply: RecordsResponse) => {
      res.writeHead(reply.status, reply.headers);
      if (isBodyStream(reply.body)) void writeStream(res, reply.body);
      else res.end(reply.body);
    };
    const candidates = routes.filter((r) => matchPath(r.path, url.pathname));
    const route = candidates.find((r) => r.method === req.method);
    if (!route) {
      send(candidates.length ? json(405, { error: "method not allowed" }) : json(404, { error: "not found" }));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > route.maxBodyBytes) tooLarge = true;
      else chunks.push(c);
    });
    req.on("end", () => {
      if (tooLarge) return send(json(413, { error: "body too large" }));
      const headers: Record<string, string | undefined> = {};
      for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(", ") : v;
      route
        .handle({
          params: matchPath(route.path, url.pathname)!,
          query: url.searchParams,
          headers,
          rawBody: Buffer.concat(chunks),
          ip: req.socket.remoteAddress ?? "",
        })
        .then(send, () => send(json(500, { error: "internal error" })));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const { port: bound } = server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${bound}`,
    close: async () => {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Writes a streamed body (chunked: no content-length) with node's backpressure: once write() says the
 * socket's buffer is full, the next chunk is pulled only after 'drain'. A client that leaves first
 * ('close' before the end) gets nothing more and the stream is returned, so its producer stops; a
 * stream that fails midway cuts the connection (the status is already sent).
 */
async function writeStream(res: http.ServerResponse, body: BodyStream): Promise<void> {
  const chunks = body[Symbol.asyncIterator]();
  let gone = false; // closed before our end(): the client left
  let wake = () => {};
  res.once("close", () => {
    gone = true;
    wake();
  });
  const drained = () =>
    new Promise<void>((resolve) => {
      wake = () => {
        res.off("drain", wake);
        resolve();
      };
      res.once("drain", wake);
    });
  let finished = false; // the stream ended or threw: nothing to return()
  try {
    for (;;) {
      const next = await chunks.next().catch((error: unknown) => {
        finished = true;
        throw error;
      });
      finished = next.done === true;
      if (gone) return;
      if (next.done) {
        res.end();
        return;
      }
      if (!res.write(next.value)) await drained();
      if (gone) return;
    }
  } catch {
    res.destroy();
  } finally {
    if (!finished) await chunks.return?.().catch(() => {});
  }
}
