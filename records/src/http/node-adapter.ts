// Serves records routes over node:http: for tests, and as the reference for
// the node's uWS adapter (copy headers, params, query and IP, read the body up
// to the route's limit, call route.handle, write status, headers and body).
import http from "node:http";
import type { AddressInfo } from "node:net";
import { json, matchPath, type RecordsResponse, type Route } from "./types.ts";

export async function serveRoutes(routes: Route[], port = 0): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const send = (reply: RecordsResponse) => {
      res.writeHead(reply.status, reply.headers);
      res.end(reply.body);
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
