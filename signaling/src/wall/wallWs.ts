// The dashboards' WebSocket endpoint (/wall/ws) on uWS. uWS's own limit is
// set far above the hub's policy, and never closes on its own: the hub
// decides per dashboard (WallClient) long before uWS would drop a frame.
import type { TemplatedApp, WebSocket } from "../uws.ts";
import type { Wall } from "./Wall.ts";
import type { WallClient } from "./WallClient.ts";

interface SocketData {
  client?: WallClient;
  /** False once uWS closed the socket: it must not be touched after that. */
  open: boolean;
}

export const WALL_WS_PATH = "/wall/ws";

export function mountWallWs(
  app: TemplatedApp,
  wall: Wall,
  options: { maxMessageBytes: number; hardLimitBytes: number },
) {
  app.ws<SocketData>(WALL_WS_PATH, {
    compression: 0,
    maxPayloadLength: options.maxMessageBytes * 4,
    maxBackpressure: options.hardLimitBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 120,
    sendPingsAutomatically: true,
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
      if (data.client) wall.disconnect(data.client);
    },
  });
}
