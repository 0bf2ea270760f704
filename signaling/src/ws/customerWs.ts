// The customer WebSocket endpoint (/ws) on uWS: one CustomerSocket per
// connection, binary protobuf frames in, Responses and live events out.
// The handshake is refused with 403 when a web page of another origin
// opens it, and with 429 when the client already holds its share of sockets.
import type { Logger } from "pino";
import type { LogThrottle } from "../edge/LogThrottle.ts";
import type { PerClientLimit, Release } from "../edge/PerClientLimit.ts";
import type { HttpEdge } from "../http/HttpEdge.ts";
import { json } from "../http/respond.ts";
import { wsConnections } from "../metrics.ts";
import type { TemplatedApp, WebSocket } from "../uws.ts";
import { admitUpgrade } from "./admitUpgrade.ts";
import { CustomerSocket, type SocketContext } from "./CustomerSocket.ts";

interface SocketData {
  customer?: CustomerSocket;
  /** False once uWS closed the socket: it must not be touched after that. */
  open: boolean;
  clientIp: string;
  /** The client's socket slot. */
  release: Release;
}

export interface CustomerWsDeps {
  edge: HttpEdge;
  /** Open sockets per client. */
  sockets: PerClientLimit;
  logThrottle: LogThrottle;
  logger: Logger;
}

export function mountCustomerWs(app: TemplatedApp, ctx: SocketContext, deps: CustomerWsDeps): void {
  app.ws<SocketData>("/ws", {
    compression: 0,
    // Frames above our own limit get a TOO_LARGE error; far larger ones are cut off by uWS.
    maxPayloadLength: ctx.maxMessageBytes * 4,
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: 1,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    upgrade: admitUpgrade(deps, "/ws", (admitted): SocketData => ({ open: false, ...admitted })),
    open: (ws) => {
      wsConnections.inc();
      const data = ws.getUserData();
      data.open = true;
      data.customer = new CustomerSocket(
        ctx,
        {
          send: (bytes) => {
            if (data.open) ws.send(bytes, true);
          },
          close: (code, reason) => {
            if (data.open) ws.end(code, reason);
          },
        },
        data.clientIp,
      );
    },
    message: (ws, message, isBinary) => ws.getUserData().customer?.onMessage(message, isBinary),
    close: (ws: WebSocket<SocketData>, code) => {
      wsConnections.dec();
      const data = ws.getUserData();
      data.open = false;
      data.release();
      data.customer?.onClose(code);
    },
  });
  // A plain request (no Upgrade header) falls through the WebSocket route to these.
  deps.edge.route(app, "/ws", {
    GET: () => json(426, { error: "this is a WebSocket endpoint" }, { upgrade: "websocket" }),
  });
}
