// The dashboard's WebSocket: binary protobuf requests with ids answered by
// Responses, everything else to a callback. It reconnects by itself (a node
// restart, a network blip, or the node closing a dashboard that fell too far
// behind) and subscribes again: every (re)subscription starts from a fresh
// snapshot. A subscription the node refuses for good (an unknown store, a
// public screen without its business) is reported as "failed" instead.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  ClientMessageSchema,
  type Response,
  type ServerMessage,
  ServerMessageSchema,
  type Snapshot,
  type Subscribe,
  type Welcome,
} from "@parley/proto/wall";
import { ErrorCode } from "@parley/proto/ws";

type Request = MessageInitShape<typeof ClientMessageSchema>["kind"];
type Result = Response["result"];
/** Each result case's value. */
type ResultValue = { [K in NonNullable<Result["case"]>]: Extract<Result, { case: K }>["value"] };

export class RequestError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

/** No socket to send on, or it closed before the answer came. */
export class NotConnectedError extends Error {}

/** "failed": the node refused what this page asks to watch; trying again cannot help. */
export type ConnectionState = "connecting" | "live" | "reconnecting" | "refused" | "failed";

export interface WallConnectionOptions {
  url: string;
  token: string;
  /** What to watch; absent: no live events (the monitor only watches its reports). */
  subscribe?: () => MessageInitShape<typeof ClientMessageSchema>["kind"] & { case: "subscribe" };
  onWelcome: (welcome: Welcome) => void;
  onSnapshot?: (snapshot: Snapshot) => void;
  onMessage: (message: ServerMessage) => void;
  /** `refusal`: the node's answer that made it "refused" or "failed" (its message is English: for the console). */
  onState: (state: ConnectionState, refusal?: RequestError) => void;
  /** After each (re)subscription (e.g. to turn the monitor on again). */
  onReady?: () => void;
}

/** Refusals of what a page asks for (not of its moment): the same request would get the same answer. */
const FOR_GOOD: ReadonlySet<number> = new Set([
  ErrorCode.NOT_FOUND,
  ErrorCode.INVALID_ARGUMENT,
  ErrorCode.PERMISSION_DENIED,
]);
/** Closed by this page to start again (a refusal worth retrying): the usual backoff follows. */
const RETRY_CLOSE_CODE = 4000;

export class WallConnection {
  readonly #o: WallConnectionOptions;
  #ws: WebSocket | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  #retryMs = 500;
  #stopped = false;

  constructor(options: WallConnectionOptions) {
    this.#o = options;
    this.#open();
  }

  /** Sends a request; resolves with its result, or rejects with the server's error. */
  request<C extends keyof ResultValue>(kind: Request, expect: C): Promise<ResultValue[C]> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new NotConnectedError("not connected"));
    const requestId = this.#nextId++;
    ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    return new Promise<ResultValue[C]>((resolve, reject) => {
      this.#pending.set(requestId, {
        resolve: (result) => {
          if (result.case === "error") reject(new RequestError(result.value.code, result.value.message));
          else if (result.case !== expect) reject(new Error(`expected ${expect}, got ${result.case}`));
          // Checked just above: result.case is C, so its value is ResultValue[C] (TS cannot narrow a generic union).
          else resolve(result.value as unknown as ResultValue[C]);
        },
        reject,
      });
    });
  }

  /** Subscribes again (new filters): a fresh snapshot follows. */
  async resubscribe(): Promise<void> {
    if (!this.#o.subscribe) return;
    const snapshot = await this.request(this.#o.subscribe(), "snapshot");
    this.#o.onSnapshot?.(snapshot);
  }

  close(): void {
    this.#stopped = true;
    this.#ws?.close(1000, "done");
  }

  #open(): void {
    const ws = new WebSocket(this.#o.url);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.onopen = () => void this.#start();
    ws.onmessage = (e) => this.#onMessage(e.data as ArrayBuffer);
    ws.onclose = (e) => {
      for (const p of this.#pending.values()) p.reject(new NotConnectedError("connection closed"));
      this.#pending.clear();
      if (this.#stopped) return;
      this.#o.onState("reconnecting");
      // Closed for falling behind: come back at once for a fresh snapshot.
      const delay = e.code === 4008 || e.code === 4009 ? 0 : this.#retryMs;
      this.#retryMs = Math.min(10_000, this.#retryMs * 2);
      setTimeout(() => this.#open(), delay);
    };
  }

  async #start(): Promise<void> {
    const ws = this.#ws;
    try {
      const welcome = await this.request({ case: "hello", value: { token: this.#o.token } }, "welcome");
      this.#o.onWelcome(welcome);
      if (this.#o.subscribe) {
        const snapshot = await this.request(this.#o.subscribe(), "snapshot");
        this.#o.onSnapshot?.(snapshot);
      }
      this.#retryMs = 500;
      this.#o.onState("live");
      this.#o.onReady?.();
    } catch (error) {
      // Not the node's answer (the socket closed meanwhile): onclose reconnects already.
      if (!(error instanceof RequestError) || ws !== this.#ws) return;
      if (error.code === ErrorCode.UNAUTHENTICATED || FOR_GOOD.has(error.code)) {
        this.#stopped = true;
        console.warn("the node refused this page:", ErrorCode[error.code] ?? error.code, error.message);
        this.#o.onState(error.code === ErrorCode.UNAUTHENTICATED ? "refused" : "failed", error);
        ws?.close(1000, "refused");
        return;
      }
      // The node keeps the socket open after a failed subscribe (a database error, too many
      // requests): without closing it the page would wait on it forever, with no live updates.
      ws?.close(RETRY_CLOSE_CODE, "retrying");
    }
  }

  #onMessage(data: ArrayBuffer): void {
    const message = fromBinary(ServerMessageSchema, new Uint8Array(data));
    if (message.kind.case === "response") {
      const { requestId, result } = message.kind.value;
      const pending = this.#pending.get(requestId);
      this.#pending.delete(requestId);
      pending?.resolve(result);
      return;
    }
    this.#o.onMessage(message);
  }
}

export type SubscribeInit = MessageInitShape<typeof ClientMessageSchema>["kind"] & { case: "subscribe" };
export type { Subscribe };
