// The customer's WebSocket: binary protobuf requests with ids, answered by
// Responses; live events delivered to a callback.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { LiveEvent } from "@parley/proto/live";
import { ClientMessageSchema, ErrorCode, type Response, ServerMessageSchema } from "@parley/proto/ws";

type Request = MessageInitShape<typeof ClientMessageSchema>["kind"];
type Result = Response["result"];

export class ServerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** With WRONG_NODE: where the session lives. */
    readonly redirectUrl = "",
    /** With a retryable refusal: how long to wait before trying again (0: no hint). */
    readonly retryAfterMs = 0,
  ) {
    super(message);
  }
}

/** The server could not be reached, or the connection went (closed, or no answer in time). */
export class ConnectionLost extends Error {
  constructor(readonly reason: "unreachable" | "lost") {
    super(reason === "unreachable" ? "cannot reach the server" : "connection lost");
  }
}

/**
 * The close code of a connection given up on. Not 1000: the node ends a
 * conversation at once when its owner closes with 1000, and an abandoned
 * connection may be the owner (it joined, then its audio failed to come up)
 * while the app goes on to join again; any other code gets the rejoin grace.
 */
const ABANDONED = 4100;

/** How long opening the socket, and each request, may take. */
const OPEN_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 15_000;

/**
 * A socket that brought nothing for QUIET_MS is pinged; one whose Pong does not come within
 * PONG_TIMEOUT_MS is dead: after a network switch that dropped packets without a reset, it
 * would stay open and silent for minutes (the node's own idle timeout is 60 s).
 */
const QUIET_MS = 8_000;
const PONG_TIMEOUT_MS = 5_000;

export class Connection {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #lastHeardAt = Date.now();
  #liveness: ReturnType<typeof setInterval> | undefined;
  onEvent: (event: LiveEvent) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};
  /** The socket is open but carries nothing (no Pong in time): give it up and connect again. */
  onSilent: () => void = () => {};

  static open(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      // A socket that never opens must not leave "Connecting…" on screen for good.
      const timer = setTimeout(() => {
        ws.onopen = ws.onerror = null;
        ws.close();
        reject(new ConnectionLost("unreachable"));
      }, OPEN_TIMEOUT_MS);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new Connection(ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new ConnectionLost("unreachable"));
      };
    });
  }

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => {
      this.#lastHeardAt = Date.now();
      this.#onMessage(e.data as ArrayBuffer);
    };
    this.#liveness = setInterval(() => this.#checkLiveness(), QUIET_MS / 2);
    ws.onclose = (e) => {
      clearInterval(this.#liveness);
      for (const p of this.#pending.values()) p.reject(new ConnectionLost("lost"));
      this.#pending.clear();
      this.onClose(e.code, e.reason);
    };
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /**
   * Sends a request and resolves with its result case, or rejects with the server's error
   * (or ConnectionLost when no answer came within `timeoutMs`).
   */
  request<C extends NonNullable<Result["case"]>>(
    kind: Request,
    expect: C,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<Extract<Result, { case: C }>["value"]> {
    // send() on a closing or closed socket drops the data silently: the answer would never come.
    if (!this.open) return Promise.reject(new ConnectionLost("lost"));
    const requestId = this.#nextId++;
    this.#ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(requestId);
        reject(new ConnectionLost("lost"));
      }, timeoutMs);
      this.#pending.set(requestId, {
        resolve: (result) => {
          clearTimeout(timer);
          if (result.case === "error")
            reject(
              new ServerError(
                result.value.code,
                result.value.message,
                result.value.redirectUrl,
                result.value.retryAfterMs,
              ),
            );
          else if (result.case !== expect) reject(new Error(`expected ${expect}, got ${result.case}`));
          else resolve(result.value as never);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
  }

  /**
   * Pings a socket quiet for QUIET_MS. Not while a request waits: its own timeout tells the same,
   * and a Pong queued behind a slow request would be late for no fault of the network.
   */
  #checkLiveness(): void {
    if (!this.open || this.#pending.size > 0 || Date.now() - this.#lastHeardAt < QUIET_MS) return;
    this.request({ case: "ping", value: {} }, "pong", PONG_TIMEOUT_MS).catch((error: unknown) => {
      if (error instanceof ConnectionLost && this.open) this.onSilent();
    });
  }

  close(): void {
    clearInterval(this.#liveness);
    this.#ws.close(1000, "done");
  }

  /** Closes without telling anyone: a connection given up on must not end the session through its onClose. */
  abandon(): void {
    clearInterval(this.#liveness);
    this.onEvent = () => {};
    this.onClose = () => {};
    this.onSilent = () => {};
    this.#ws.close(ABANDONED, "abandoned");
  }

  /**
   * Opens `url` and joins the session with `token`, following one WRONG_NODE
   * redirect to the node that owns the session's media. `prepare` sets the
   * connection's callbacks before the join is sent.
   */
  static async join(url: string, token: string, prepare: (c: Connection) => void, redirects = 1): Promise<Connection> {
    const connection = await Connection.open(url);
    prepare(connection);
    try {
      await connection.request({ case: "join", value: { token } }, "joined");
      return connection;
    } catch (error) {
      // Left open, a failed join's socket would later close (join timeout) through the app's onClose.
      connection.abandon();
      if (!(error instanceof ServerError && error.code === ErrorCode.WRONG_NODE && error.redirectUrl && redirects > 0))
        throw error;
      return Connection.join(error.redirectUrl, token, prepare, redirects - 1);
    }
  }

  #onMessage(data: ArrayBuffer): void {
    const message = fromBinary(ServerMessageSchema, new Uint8Array(data));
    if (message.kind.case === "event") this.onEvent(message.kind.value);
    else if (message.kind.case === "response") {
      const { requestId, result } = message.kind.value;
      // An error the node could not tie to a request (requestId 0: rate limited before it was read)
      // answers the oldest one waiting, which it refused.
      const id = requestId === 0 && result.case === "error" ? this.#pending.keys().next().value : requestId;
      const pending = id === undefined ? undefined : this.#pending.get(id);
      if (id !== undefined) this.#pending.delete(id);
      if (pending) pending.resolve(result);
      else if (result.case === "error") console.warn("server error", result.value.message);
    }
  }
}
