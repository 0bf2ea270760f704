// Starts real Parley nodes for tests: real mediasoup workers, the real Python
// speech worker, the real uWS edge on a free port.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import type { RetryPolicy } from "@parley/inference-bridge";
import { ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/ws";
import pino from "pino";
import WebSocket from "ws";
import { loadConfig } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";

export async function startServer(env: Record<string, string> = {}, asrRetry?: RetryPolicy): Promise<ParleyServer> {
  const config = loadConfig({
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    MEDIASOUP_WORKERS: "1",
    JWT_SECRET: "test-secret-test-secret-test-secret-42",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    ...env,
  });
  return ParleyServer.create({
    config,
    logger: pino({ level: config.logLevel }),
    ...(asrRetry ? { asrRetry } : {}),
  });
}

/** Where a node listens: a ParleyServer in-process, or a node in another process. */
export interface Endpoint {
  url: string;
  port: number;
}

export async function createSession(server: Endpoint, storeCode = "demo") {
  const res = await fetch(`${server.url}/api/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ storeCode }),
  });
  if (res.status !== 201) throw new Error(`session: ${res.status}`);
  return (await res.json()) as { sessionId: string; token: string };
}

type Kind = MessageInitShape<typeof ClientMessageSchema>["kind"];

/** A raw protocol client: sends frames, collects every ServerMessage. */
export class TestSocket {
  readonly messages: ServerMessage[] = [];
  /** performance.now() at which each of `messages` arrived. */
  readonly arrivals: number[] = [];
  readonly ws: WebSocket;
  closed: { code: number; reason: string } | undefined;
  #nextId = 1;
  #waiters: (() => void)[] = [];

  static async open(server: Endpoint): Promise<TestSocket> {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    return new TestSocket(ws);
  }

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on("message", (data: ArrayBuffer) => {
      this.arrivals.push(performance.now());
      this.messages.push(fromBinary(ServerMessageSchema, new Uint8Array(data)));
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

  /** Sends a request and returns its Response's result. */
  async request(kind: Kind) {
    const requestId = this.#nextId++;
    this.ws.send(toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind })));
    const message = await this.waitFor((m) => m.kind.case === "response" && m.kind.value.requestId === requestId);
    if (message.kind.case !== "response") throw new Error("unreachable");
    return message.kind.value.result;
  }

  /** Resolves with the first message (already received or future) that matches. */
  async waitFor(match: (m: ServerMessage) => boolean, timeoutMs = 10_000): Promise<ServerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(match);
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
