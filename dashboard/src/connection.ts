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

/**
 * A socket that brought nothing for QUIET_MS is pinged; one whose Pong does not come within
 * PONG_TIMEOUT_MS is given up on and replaced. A network that drops packets without a reset (a
 * wall screen's Wi-Fi reconnecting) leaves the socket open and silent: the wall would show the
 * same screen, not live, for many minutes. Walls of a quiet store get no events for hours.
 */
const QUIET_MS = 15_000;
const PONG_TIMEOUT_MS = 5_000;

export class WallConnection {
  readonly #o: WallConnectionOptions;
  #ws: WebSocket | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  #retryMs = 500;
  #stopped = false;
  #lastHeardAt = 0;
  #pinging = false;
  #liveness: ReturnType<typeof setInterval> | undefined;

  constructor(options: WallConnectionOptions) {
    this.#o = options;
    this.#open();
  }

  /**
   * Sends a request; resolves with its result, or rejects with the server's error (with
   * NotConnectedError when no answer came within `timeoutMs`, if given).
   */
  request<C extends keyof ResultValue>(kind: Request, expect: C, timeoutMs?: number): Promise<ResultValue[C]> {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return Promise.reject(new NotConnectedError("not connected"));
    const requestId = this.#nextId++;
    ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    return new Promise<ResultValue[C]>((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              this.#pending.delete(requestId);
              reject(new NotConnectedError("no answer in time"));
            }, timeoutMs);
      this.#pending.set(requestId, {
        resolve: (result) => {
          clearTimeout(timer);
          if (result.case === "error") reject(new RequestError(result.value.code, result.value.message));
          else if (result.case !== expect) reject(new Error(`expected ${expect}, got ${result.case}`));
          // Checked just above: result.case is C, so its value is ResultValue[C] (TS cannot narrow a generic union).
          else resolve(result.value as unknown as ResultValue[C]);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
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
    clearInterval(this.#liveness);
    this.#ws?.close(1000, "done");
  }

  #open(): void {
    const ws = new WebSocket(this.#o.url);
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#lastHeardAt = Date.now();
    clearInterval(this.#liveness);
    this.#liveness = setInterval(() => this.#checkLiveness(ws), QUIET_MS / 3);
    ws.onopen = () => void this.#start();
    ws.onmessage = (e) => {
      this.#lastHeardAt = Date.now();
      this.#onMessage(e.data as ArrayBuffer);
    };
    ws.onclose = (e) => this.#closed(e.code);
  }

  /** The socket went: what waits on it fails, and (unless stopped) a new one opens after the backoff. */
  #closed(code: number): void {
    clearInterval(this.#liveness);
    for (const p of this.#pending.values()) p.reject(new NotConnectedError("connection closed"));
    this.#pending.clear();
    if (this.#stopped) return;
    this.#o.onState("reconnecting");
    // Closed for falling behind: come back at once for a fresh snapshot.
    const delay = code === 4008 || code === 4009 ? 0 : this.#retryMs;
    this.#retryMs = Math.min(10_000, this.#retryMs * 2);
    setTimeout(() => this.#open(), delay);
  }

  /**
   * Pings a socket quiet for QUIET_MS; one that leaves the Pong unanswered is dropped at once (its
   * close would wait on the dead network) and replaced.
   */
  #checkLiveness(ws: WebSocket): void {
    if (ws !== this.#ws || ws.readyState !== WebSocket.OPEN || this.#pinging) return;
    if (Date.now() - this.#lastHeardAt < QUIET_MS) return;
    this.#pinging = true;
    this.request({ case: "ping", value: {} }, "pong", PONG_TIMEOUT_MS)
      .then(
        () => {},
        (error: unknown) => {
          if (!(error instanceof NotConnectedError) || ws !== this.#ws || ws.readyState !== WebSocket.OPEN) return;
          console.warn("the node stopped answering: connecting again");
          ws.onclose = ws.onmessage = null;
          ws.close(RETRY_CLOSE_CODE, "no answer");
          this.#closed(RETRY_CLOSE_CODE);
        },
      )
      .finally(() => {
        this.#pinging = false;
      });
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
