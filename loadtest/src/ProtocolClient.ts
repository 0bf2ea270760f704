// A raw client of Parley's customer protocol: creates a session over HTTP,
// then speaks binary protobuf over the WebSocket and collects every server
// message until someone takes them. Tests, benchmarks and the load tester share it.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/ws";
import WebSocket from "ws";

/** How long creating a session or opening its socket may take. */
const REQUEST_TIMEOUT_MS = 15_000;

/** Where a node listens: a ParleyServer in-process, or a node in another process. */
export interface Endpoint {
  /** http(s)://host:port */
  url: string;
}

/** The node's WebSocket URL for an endpoint. */
export const wsUrl = (endpoint: Endpoint) => `${endpoint.url.replace(/^http/, "ws")}/ws`;

/** What a customer's app sends with a new session (see client/src/App.tsx). */
export interface SessionOptions {
  /** The consent text version the customer accepted; null: no consent (the node refuses). */
  consentVersion?: string | null;
  /** A stable id of the customer's device (the app keeps one in localStorage). */
  deviceId?: string;
  /** The purchase the feedback is about. */
  receipt?: string;
}

export async function createSession(server: Endpoint, storeCode = "demo", options: SessionOptions = {}) {
  const consentVersion = options.consentVersion === undefined ? "loadtest-1" : options.consentVersion;
  const res = await fetch(`${server.url}/api/sessions`, {
    method: "POST",
    // A node that accepts the connection and never answers must not hold a customer (or a run) forever.
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      storeCode,
      ...(consentVersion === null ? {} : { consent: { given: true, version: consentVersion } }),
      ...(options.deviceId ? { deviceId: options.deviceId } : {}),
      ...(options.receipt ? { receipt: options.receipt } : {}),
    }),
  });
  if (res.status !== 201) throw new SessionRefused(res.status, await res.text());
  return (await res.json()) as {
    sessionId: string;
    token: string;
    expiresAt: string;
    dataCode: string;
    /** Present when the node placed the conversation on another node: connect there. */
    wsUrl?: string;
  };
}

/** POST /api/sessions answered with something else than 201. */
export class SessionRefused extends Error {
  readonly status: number;
  constructor(status: number, body: string) {
    super(`session refused: ${status} ${body.slice(0, 200)}`);
    this.status = status;
  }
}

type Kind = MessageInitShape<typeof ClientMessageSchema>["kind"];

/** A server message and performance.now() at which it arrived. */
export interface Arrival {
  message: ServerMessage;
  arrivedAt: number;
}

/**
 * A raw protocol client: sends frames, collects every ServerMessage. Tests
 * read `messages` whenever they like; a reader that lives long (the load
 * tester's session, for hours) take()s them as they come, so they are not
 * kept twice.
 */
export class ProtocolClient {
  /** Every message received and not yet taken. */
  readonly messages: ServerMessage[] = [];
  /** performance.now() at which each of `messages` arrived. */
  readonly arrivals: number[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;
  #waiters: (() => void)[] = [];
  /** The waitFor()s under way, each shown every message as it arrives (a take() may remove it before they look). */
  readonly #watchers = new Set<(m: ServerMessage) => void>();

  /** Opens the node's WebSocket, or `url` when given (a session placed on another node names it). */
  static async open(server: Endpoint, url = wsUrl(server)): Promise<ProtocolClient> {
    const ws = new WebSocket(url, { handshakeTimeout: REQUEST_TIMEOUT_MS });
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new ProtocolClient(ws);
  }

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: ArrayBuffer) => {
      const message = fromBinary(ServerMessageSchema, new Uint8Array(data));
      this.arrivals.push(performance.now());
      this.messages.push(message);
      for (const watch of this.#watchers) watch(message);
      this.#wake();
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.#wake();
    });
  }

  sendRaw(data: Uint8Array | string): void {
    this.ws.send(data);
  }

  /** Sends a request and returns its Response's result (rejects after `timeoutMs`). */
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

  /** The messages received since the last take(), with their arrival times; forgets them. */
  take(): Arrival[] {
    const messages = this.messages.splice(0);
    const arrivals = this.arrivals.splice(0);
    return messages.map((message, i) => ({ message, arrivedAt: arrivals[i]! }));
  }

  /** Resolves with the first message (received and not taken, or future) that matches. */
  async waitFor(match: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    let seen: ServerMessage | undefined;
    const watch = (m: ServerMessage) => {
      if (!seen && match(m)) seen = m;
    };
    this.#watchers.add(watch);
    try {
      for (;;) {
        const found = this.messages.find(match) ?? seen;
        if (found) return found;
        if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason})`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error("timed out waiting for a server message");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          this.#waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    } finally {
      this.#watchers.delete(watch);
    }
  }

  async waitClosed(timeoutMs = 5_000): Promise<{ code: number; reason: string }> {
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
