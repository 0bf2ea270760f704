// The edge of every WebSocket endpoint (/ws for customers, /wall/ws for
// dashboards): a handshake from a web page of another origin is refused with
// 403, one from a client that already holds its share of sockets with 429;
// any other is upgraded carrying the client's address and its socket slot,
// which the endpoint gives back when the socket closes.
import type { Logger } from "pino";
import { clip, type LogThrottle } from "../edge/LogThrottle.ts";
import type { PerClientLimit, Release } from "../edge/PerClientLimit.ts";
import type { HttpEdge } from "../http/HttpEdge.ts";
import { json, type RequestInfo } from "../http/respond.ts";
import { httpRequestsTotal } from "../metrics.ts";
import type { HttpRequest, HttpResponse, us_socket_context_t } from "../uws.ts";

export interface UpgradeGate {
  edge: HttpEdge;
  /** Open sockets per client, of this endpoint. */
  sockets: PerClientLimit;
  logThrottle: LogThrottle;
  logger: Logger;
}

/** What every admitted socket carries. */
export interface Admitted {
  clientIp: string;
  /** The client's socket slot: release it when the socket closes. */
  release: Release;
}

/** uWS's `upgrade` handler for `route`: checks the handshake, then upgrades with `data(admitted)`. */
export function admitUpgrade<T extends Admitted>(
  gate: UpgradeGate,
  route: string,
  data: (admitted: Admitted) => T,
): (res: HttpResponse, req: HttpRequest, context: us_socket_context_t) => void {
  const { edge, sockets, logger } = gate;
  const refuse = (res: HttpResponse, info: RequestInfo, status: number, error: string) => {
    httpRequestsTotal.inc({ method: "GET", route, status_code: String(status) });
    edge.write(res, json(status, { error }), info);
  };
  return (res, req, context) => {
    let release: Release | undefined;
    // A throw here would escape uWS's callback and end the process: the handshake is refused instead.
    try {
      const info = edge.info(res, req);
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      if (!edge.origins.allows(info.origin, info.host)) {
        if (gate.logThrottle.admit().ok)
          logger.warn(
            { origin: clip(info.origin), clientIp: info.clientIp, route },
            "WebSocket from a foreign origin refused",
          );
        refuse(res, info, 403, "this origin may not open the WebSocket");
        return;
      }
      release = sockets.acquire(info.clientIp);
      if (!release) {
        refuse(res, info, 429, `at most ${sockets.max} open connections per client`);
        return;
      }
      res.upgrade(data({ clientIp: info.clientIp, release }), key, protocol, extensions, context);
    } catch (err) {
      release?.(); // the slot of a socket that did not open (a release is safe twice)
      edge.refuseUnreadable(res, route, err);
    }
  };
}
