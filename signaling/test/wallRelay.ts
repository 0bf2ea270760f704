// A dashboard page's wall socket through the test (Playwright's
// routeWebSocket): it may answer a request itself, or replace or hold back
// what the node says.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { type ClientMessage, ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/wall";
import type { ErrorCode } from "@parley/proto/ws";
import type { Page } from "playwright-core";

export interface WallRelay {
  /** Each request of the page: the answer the page gets instead of the node's (none: on to the node). */
  // biome-ignore lint/suspicious/noConfusingVoidType: a relay that only watches requests returns nothing
  request?: (m: ClientMessage) => ServerMessage | undefined | void;
  /** Each message of the node: what the page gets instead (undefined: the message as it is), perhaps later. */
  reply?: (m: ServerMessage) => ServerMessage | undefined | Promise<ServerMessage | undefined>;
}

/** Sends every wall socket of the page (reconnections too) through the relay. */
export async function relayWall(page: Page, relay: WallRelay): Promise<void> {
  await page.routeWebSocket(/\/wall\/ws$/, (ws) => {
    const node = ws.connectToServer();
    ws.onMessage((data) => {
      const answer = relay.request?.(fromBinary(ClientMessageSchema, new Uint8Array(data as Buffer)));
      if (answer) ws.send(Buffer.from(toBinary(ServerMessageSchema, answer)));
      else node.send(data);
    });
    node.onMessage((data) => {
      const message = fromBinary(ServerMessageSchema, new Uint8Array(data as Buffer));
      void Promise.resolve(relay.reply?.(message)).then((instead) =>
        ws.send(instead ? Buffer.from(toBinary(ServerMessageSchema, instead)) : data),
      );
    });
  });
}

/** The node's refusal of a request, as the wall protocol carries it. */
export const errorAnswer = (requestId: number, code: ErrorCode, message: string) =>
  create(ServerMessageSchema, {
    kind: { case: "response", value: { requestId, result: { case: "error", value: { code, message } } } },
  });
