// Stand-ins for a Parley node and a WebRTC customer, for the load tester's
// unit tests: a WebSocket server that speaks the customer protocol (its
// answers and live events chosen by the test), and a customer whose media is
// counted instead of sent, on a real ProtocolClient to that server.
import type { AddressInfo } from "node:net";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { LiveEventSchema } from "@parley/proto/live";
import { type ClientMessage, ClientMessageSchema, type ResponseSchema, ServerMessageSchema } from "@parley/proto/ws";
import { type WebSocket, WebSocketServer } from "ws";
import type { LoadRecording } from "../src/audio/Recording.ts";
import { ProtocolClient } from "../src/ProtocolClient.ts";
import type { ConnectCustomer, LoadCustomer } from "../src/run/LoadSession.ts";
import type { JoinStage, ReceiverReport } from "../src/WeriftCustomer.ts";

type Result = MessageInitShape<typeof ResponseSchema>["result"];
type Event = MessageInitShape<typeof LiveEventSchema>["kind"];

export class FakeNode {
  readonly requests: ClientMessage["kind"][] = [];
  /** The answer to each request; undefined: none (a node that does not answer). Default: endSession ends. */
  answer: (request: ClientMessage["kind"]) => Result | undefined = (request) =>
    request.case === "endSession" ? { case: "sessionEnded", value: {} } : undefined;
  readonly #server: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();

  static async start(): Promise<FakeNode> {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => server.once("listening", resolve));
    return new FakeNode(server);
  }

  private constructor(server: WebSocketServer) {
    this.#server = server;
    server.on("connection", (ws) => {
      this.#sockets.add(ws);
      ws.on("close", () => this.#sockets.delete(ws));
      ws.on("message", (data: Buffer) => {
        const message = fromBinary(ClientMessageSchema, new Uint8Array(data));
        this.requests.push(message.kind);
        const result = this.answer(message.kind);
        if (result) this.#send(ws, { case: "response", value: { requestId: message.requestId, result } });
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** A live event to every customer connected. */
  event(kind: Event): void {
    for (const ws of this.#sockets) this.#send(ws, { case: "event", value: create(LiveEventSchema, { kind }) });
  }

  async stop(): Promise<void> {
    for (const ws of this.#sockets) ws.terminate();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #send(ws: WebSocket, kind: MessageInitShape<typeof ServerMessageSchema>["kind"]): void {
    ws.send(toBinary(ServerMessageSchema, create(ServerMessageSchema, { kind })));
  }
}

/** A customer whose RTP is counted, whose receiver reports the test sends, whose media reconnects when the test says. */
export class FakeCustomer implements LoadCustomer {
  socket: ProtocolClient;
  packetsSent = 0;
  /** Sequence numbers extended with their wraps, as receiver reports give them; starting just short of a wrap. */
  #extendedSeq = 0xfff0;
  /** Each sendOpus call: whether a media reconnect was under way. */
  readonly sends: { duringReconnect: boolean }[] = [];
  /** What each reconnectMedia() call does; default: done at once. */
  reconnect: () => Promise<void> = async () => {};
  reconnectCalls = 0;
  #reconnecting = false;
  readonly #reportListeners = new Set<(report: ReceiverReport) => void>();

  constructor(socket: ProtocolClient) {
    this.socket = socket;
  }

  /** A ConnectCustomer that brings up a FakeCustomer on `node`, each stage at once; `made` hears each one made. */
  static connector(node: FakeNode, made: (customer: FakeCustomer) => void = () => {}): ConnectCustomer {
    let sessions = 0;
    return async (onStage: (stage: JoinStage, sessionId: string) => void) => {
      const sessionId = `fake-${++sessions}`;
      onStage("created", sessionId);
      const customer = new FakeCustomer(await ProtocolClient.open({ url: node.url }));
      for (const stage of ["joined", "signalled", "connected"] as const) onStage(stage, sessionId);
      made(customer);
      return customer;
    };
  }

  get nextSequence(): number {
    return this.#extendedSeq & 0xffff;
  }

  /** The extended sequence number of the last packet sent. */
  get lastSequence(): number {
    return this.#extendedSeq - 1;
  }

  /** Receiver reports go to the listeners subscribed now. */
  get reportListeners(): number {
    return this.#reportListeners.size;
  }

  sendOpus(payload: Buffer): void {
    this.sends.push({ duringReconnect: this.#reconnecting });
    if (payload.length > 0) {
      this.packetsSent++;
      this.#extendedSeq++;
    }
  }

  onReceiverReport(listener: (report: ReceiverReport) => void): () => void {
    this.#reportListeners.add(listener);
    return () => this.#reportListeners.delete(listener);
  }

  /** A receiver report to the listeners; by default it covers every packet sent so far. */
  report(report: Partial<ReceiverReport>): void {
    const full = { highestSequence: this.lastSequence, packetsLost: 0, fractionLost: 0, jitterMs: 1, ...report };
    for (const listener of this.#reportListeners) listener(full);
  }

  async roundTripMs(): Promise<number | undefined> {
    return undefined;
  }

  async reconnectMedia(): Promise<void> {
    this.reconnectCalls++;
    this.#reconnecting = true;
    try {
      await this.reconnect();
    } finally {
      this.#reconnecting = false;
    }
  }

  async close(): Promise<void> {
    this.socket.close();
  }
}

/** A recording of `packets` 20 ms packets of (pretend) speech, with no speech span to check. */
export function syntheticRecording(packets: number): LoadRecording {
  return {
    id: "synthetic",
    path: "/synthetic.wav",
    format: "wav",
    packets: Array.from({ length: packets }, () => Buffer.from([0xf8, 1, 2])),
    startsMs: Float64Array.from({ length: packets + 1 }, (_, i) => i * 20),
    durationMs: packets * 20,
    speechOnsetMs: 0,
    speechEndMs: 0,
    reference: undefined,
  };
}
