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
  ) {
    super(message);
  }
}

export class Connection {
  readonly #ws: WebSocket;
  readonly #pending = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  onEvent: (event: LiveEvent) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};

  static open(url: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => resolve(new Connection(ws));
      ws.onerror = () => reject(new Error("cannot reach the server"));
    });
  }

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (e) => this.#onMessage(e.data as ArrayBuffer);
    ws.onclose = (e) => {
      for (const p of this.#pending.values()) p.reject(new Error("connection closed"));
      this.#pending.clear();
      this.onClose(e.code, e.reason);
    };
  }

  /** Sends a request and resolves with its result case, or rejects with the server's error. */
  request<C extends NonNullable<Result["case"]>>(
    kind: Request,
    expect: C,
  ): Promise<Extract<Result, { case: C }>["value"]> {
    const requestId = this.#nextId++;
    this.#ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    return new Promise((resolve, reject) => {
      this.#pending.set(requestId, {
        resolve: (result) => {
          if (result.case === "error")
            reject(new ServerError(result.value.code, result.value.message, result.value.redirectUrl));
          else if (result.case !== expect) reject(new Error(`expected ${expect}, got ${result.case}`));
          else resolve(result.value as never);
        },
        reject,
      });
    });
  }

  close(): void {
    this.#ws.close(1000, "done");
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
      if (!(error instanceof ServerError && error.code === ErrorCode.WRONG_NODE && error.redirectUrl && redirects > 0))
        throw error;
      connection.onClose = () => {};
      connection.close();
      return Connection.join(error.redirectUrl, token, prepare, redirects - 1);
    }
  }

  #onMessage(data: ArrayBuffer): void {
    const message = fromBinary(ServerMessageSchema, new Uint8Array(data));
    if (message.kind.case === "event") this.onEvent(message.kind.value);
    else if (message.kind.case === "response") {
      const { requestId, result } = message.kind.value;
      const pending = this.#pending.get(requestId);
      this.#pending.delete(requestId);
      if (pending) pending.resolve(result);
      else if (result.case === "error") console.warn("server error", result.value.message);
    }
  }
}
