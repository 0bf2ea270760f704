// The customer WebSocket endpoint (/ws) on uWS: one CustomerSocket per
// connection, binary protobuf frames in, Responses and live events out.
import { wsConnections } from "../metrics.ts";
import type { TemplatedApp, WebSocket } from "../uws.ts";
import { CustomerSocket, type SocketContext } from "./CustomerSocket.ts";

interface SocketData {
  customer?: CustomerSocket;
  /** False once uWS closed the socket: it must not be touched after that. */
  open: boolean;
}

export function mountCustomerWs(app: TemplatedApp, ctx: SocketContext): void {
  app.ws<SocketData>("/ws", {
    compression: 0,
    // Frames above our own limit get a TOO_LARGE error; far larger ones are cut off by uWS.
    maxPayloadLength: ctx.maxMessageBytes * 4,
    maxBackpressure: 1024 * 1024,
    closeOnBackpressureLimit: 1,
    idleTimeout: 60,
    sendPingsAutomatically: true,
    open: (ws) => {
      wsConnections.inc();
      const data = ws.getUserData();
      data.open = true;
      data.customer = new CustomerSocket(ctx, {
        send: (bytes) => {
          if (data.open) ws.send(bytes, true);
        },
        close: (code, reason) => {
          if (data.open) ws.end(code, reason);
        },
      });
    },
    message: (ws, message, isBinary) => ws.getUserData().customer?.onMessage(message, isBinary),
    close: (ws: WebSocket<SocketData>, code) => {
      wsConnections.dec();
      const data = ws.getUserData();
      data.open = false;
      data.customer?.onClose(code);
    },
  });
}
