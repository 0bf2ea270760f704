// The dashboards' WebSocket endpoint (/wall/ws) on uWS. The edge holds as on
// the customer's /ws: a page of another origin is refused (403), a client
// holding its share of dashboard sockets too (429). uWS's own limit is set
// far above the hub's policy, and never closes on its own: the hub decides
// per dashboard (WallClient) long before uWS would drop a frame.
import { json } from "../http/respond.ts";
import type { TemplatedApp, WebSocket } from "../uws.ts";
import { type Admitted, admitUpgrade, type UpgradeGate } from "../ws/admitUpgrade.ts";
import type { Wall } from "./Wall.ts";
import type { WallClient } from "./WallClient.ts";

interface SocketData extends Admitted {
  client?: WallClient;
  /** False once uWS closed the socket: it must not be touched after that. */
  open: boolean;
}

export const WALL_WS_PATH = "/wall/ws";

export function mountWallWs(
  app: TemplatedApp,
  wall: Wall,
  options: { maxMessageBytes: number; hardLimitBytes: number },
  gate: UpgradeGate,
) {
  app.ws<SocketData>(WALL_WS_PATH, {
    compression: 0,
    maxPayloadLength: options.maxMessageBytes * 4,
    maxBackpressure: options.hardLimitBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: admitUpgrade(gate, WALL_WS_PATH, (admitted): SocketData => ({ open: false, ...admitted })),
    open: (ws) => {
      const data = ws.getUserData();
      data.open = true;
      data.client = wall.connect({
        send: (frame) => {
          if (data.open) ws.send(frame, true);
        },
        bufferedAmount: () => (data.open ? ws.getBufferedAmount() : 0),
        subscribe: (topic) => {
          if (data.open) ws.subscribe(topic);
        },
        unsubscribe: (topic) => {
          if (data.open) ws.unsubscribe(topic);
        },
        close: (code, reason) => {
          if (data.open) ws.end(code, reason);
        },
      });
    },
    message: (ws, message, isBinary) => {
      const client = ws.getUserData().client;
      if (client) wall.onMessage(client, message, isBinary);
    },
    drain: (ws) => {
      const client = ws.getUserData().client;
      if (client) wall.onDrain(client);
    },
    close: (ws: WebSocket<SocketData>) => {
      const data = ws.getUserData();
      data.open = false;
      data.release();
      if (data.client) wall.disconnect(data.client);
    },
  });
  // A plain request (no Upgrade header) falls through the WebSocket route to this.
  gate.edge.route(app, WALL_WS_PATH, {
    GET: () => json(426, { error: "this is a WebSocket endpoint" }, { upgrade: "websocket" }),
  });
}
