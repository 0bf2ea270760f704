// A raw client of Parley's dashboard protocol (/wall/ws): says hello with a
// business user's or admin's token, subscribes, and collects every server
// message. Tests and the fan-out benchmark share it.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/wall";
import WebSocket from "ws";
import type { Endpoint } from "./ProtocolClient.ts";

export const dashboardWsUrl = (endpoint: Endpoint) => `${endpoint.url.replace(/^http/, "ws")}/wall/ws`;

type Kind = MessageInitShape<typeof ClientMessageSchema>["kind"];

export class DashboardClient {
  readonly messages: ServerMessage[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;
  #waiters: (() => void)[] = [];

  static async open(server: Endpoint): Promise<DashboardClient> {
    const ws = new WebSocket(dashboardWsUrl(server));
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new DashboardClient(ws);
  }

  /** Opens, says hello and subscribes; resolves with the snapshot. */
  static async subscribed(
    server: Endpoint,
    token: string,
    subscribe: MessageInitShape<typeof ClientMessageSchema>["kind"] & { case: "subscribe" } = {
      case: "subscribe",
      value: {},
    },
  ) {
    const client = await DashboardClient.open(server);
    const welcome = await client.request({ case: "hello", value: { token } });
    if (welcome.case !== "welcome") throw new Error(`hello refused: ${JSON.stringify(welcome.value)}`);
    const snapshot = await client.request(subscribe);
    if (snapshot.case !== "snapshot") throw new Error(`subscribe refused: ${JSON.stringify(snapshot.value)}`);
    return { client, snapshot: snapshot.value };
  }

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: ArrayBuffer) => {
      this.messages.push(fromBinary(ServerMessageSchema, new Uint8Array(data)));
      this.#wake();
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  /** Sends a request and returns its Response's result. */
  async request(kind: Kind, timeoutMs = 10_000) {
    const requestId = this.#nextId++;
    this.ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    const message = await this.waitFor(
      (m) => m.kind.case === "response" && m.kind.value.requestId === requestId,
      timeoutMs,
    );
    if (message.kind.case !== "response") throw new Error("unreachable");
    return message.kind.value.result;
  }

  /** The live envelopes received so far. */
  live() {
    return this.messages.flatMap((m) => (m.kind.case === "live" ? [m.kind.value] : []));
  }

  /** Resolves with the first message (already received or future) that matches. */
  async waitFor(match: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
      if (found) return found;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a dashboard message");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket not closed");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) w();
  }
}
