// One HTTP/2 connection to a speech worker, for gRPC calls made without
// grpc-js (the per-frame audio stream: see Http2RecognizeCall). Connected on
// first use and again after it broke; kept alive with PINGs (every 10 s, also
// without calls, as the worker permits) so a dead peer is noticed within
// seconds; optional TLS, also mutual. Its sockets send at once (no Nagle):
// a 20 ms audio frame must not wait for the previous one's ACK.

import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";

export interface Http2ChannelTls {
  rootCerts?: Buffer;
  privateKey?: Buffer;
  certChain?: Buffer;
  /** The name the worker's certificate must carry (and SNI), when it is not the address's host. */
  serverName?: string;
}

export interface Http2GrpcChannelOptions {
  tls?: Http2ChannelTls;
  keepaliveMs?: number;
  /** A PING unanswered this long closes the connection (its calls end UNAVAILABLE). */
  keepaliveTimeoutMs?: number;
  /** A connection not established this long is given up (its calls end UNAVAILABLE). */
  connectTimeoutMs?: number;
}

/** host:port or [v6]:port, as ASR_WORKERS lists them. */
export function parseAddress(address: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!match) throw new Error(`speech worker address "${address}" is not host:port`);
  return { host: match[1]!, port: Number(match[2]) };
}

export class Http2GrpcChannel {
  readonly address: string;
  readonly #target: { host: string; port: number };
  readonly #options: Http2GrpcChannelOptions;
  #session: http2.ClientHttp2Session | undefined;
  /** Streams open per session: while a session has any, it keeps the process alive. */
  readonly #open = new WeakMap<http2.ClientHttp2Session, number>();
  #closed = false;

  constructor(address: string, options: Http2GrpcChannelOptions = {}) {
    this.address = address;
    this.#target = parseAddress(address);
    this.#options = options;
  }

  /**
   * Opens a stream on the connection (connecting first when there is none
   * usable). Throws when the channel is closed or the session refuses new
   * streams; a connection that then fails errors the stream.
   */
  request(headers: http2.OutgoingHttpHeaders): http2.ClientHttp2Stream {
    if (this.#closed) throw new Error("channel closed");
    const session = this.#usable();
    const stream = session.request(headers, { endStream: false });
    const open = this.#open.get(session) ?? 0;
    this.#open.set(session, open + 1);
    if (open === 0) session.ref();
    stream.once("close", () => {
      const left = (this.#open.get(session) ?? 1) - 1;
      this.#open.set(session, left);
      if (left === 0 && !session.destroyed) session.unref();
    });
    return stream;
  }

  /** Closes the connection; calls still open on it end UNAVAILABLE. Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#session?.destroy();
    this.#session = undefined;
  }

  #usable(): http2.ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const session = this.#connect();
    this.#session = session;
    return session;
  }

  #connect(): http2.ClientHttp2Session {
    const { tls: secure } = this.#options;
    const scheme = secure ? "https" : "http";
    const { host, port } = this.#target;
    const authority = `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
    const session = http2.connect(authority, {
      createConnection: () => this.#socket(),
      settings: { enablePush: false },
      // As grpc-js: no session-wide memory cap (past it Node refuses new
      // streams). What a call may hold is bounded by RecognitionStream instead.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
    });
    const forget = () => {
      if (this.#session === session) this.#session = undefined;
    };
    // Errors reach the calls on this session through their streams; the
    // session's own 'error' must still be listened to.
    session.on("error", forget);
    // The worker is going away (shutting down, or too many pings): new calls go to a new connection.
    session.once("goaway", forget);
    const connectTimer = setTimeout(
      () => session.destroy(new Error(`no connection to ${this.address} within ${this.#connectTimeoutMs()} ms`)),
      this.#connectTimeoutMs(),
    );
    session.once("connect", () => clearTimeout(connectTimer));
    const keepalive = setInterval(() => this.#ping(session), this.#options.keepaliveMs ?? 10_000);
    keepalive.unref();
    session.once("close", () => {
      clearTimeout(connectTimer);
      clearInterval(keepalive);
      forget();
    });
    // An idle connection must not keep the process alive.
    session.unref();
    return session;
  }

  #connectTimeoutMs(): number {
    return this.#options.connectTimeoutMs ?? 10_000;
  }

  #ping(session: http2.ClientHttp2Session): void {
    if (session.destroyed || session.connecting) return;
    const timeoutMs = this.#options.keepaliveTimeoutMs ?? 5_000;
    const timer = setTimeout(
      () => session.destroy(new Error(`keepalive: no PING answer from ${this.address} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    timer.unref();
    try {
      session.ping(() => clearTimeout(timer)); // answered, or the session is already gone
    } catch {
      clearTimeout(timer); // closing: nothing to keep alive
    }
  }

  #socket(): net.Socket {
    const { host, port } = this.#target;
    const secure = this.#options.tls;
    const socket = secure
      ? tls.connect({
          host,
          port,
          ALPNProtocols: ["h2"],
          ...(secure.serverName ? { servername: secure.serverName } : net.isIP(host) ? {} : { servername: host }),
          ...(secure.rootCerts ? { ca: secure.rootCerts } : {}),
          ...(secure.privateKey ? { key: secure.privateKey } : {}),
          ...(secure.certChain ? { cert: secure.certChain } : {}),
        })
      : net.connect({ host, port });
    socket.setNoDelay(true);
    return socket;
  }
}
