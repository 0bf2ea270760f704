// The WebSocket edge as an attacker meets it: the Origin check, sockets per
// client, the join deadline, message floods, what the logs echo, tokens that
// serve one connection and die with their session, and the maximum duration.
import { randomBytes } from "node:crypto";
import http from "node:http";
import { Writable } from "node:stream";
import { AsrWorkerProcess } from "@parley/inference-bridge";
import { EndReason } from "@parley/proto/live";
import { ErrorCode, type ServerMessage } from "@parley/proto/ws";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config.ts";
import { ClientIpResolver } from "../src/edge/ClientIpResolver.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { CloseCode } from "../src/ws/CustomerSocket.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";

let asr: AsrWorkerProcess;
const servers: ParleyServer[] = [];
const sockets: TestSocket[] = [];
beforeAll(async () => {
  asr = await AsrWorkerProcess.start({ logger: pino({ level: "silent" }), maxStreams: 4 });
}, 60_000);
afterAll(async () => {
  for (const s of sockets) s.ws.terminate();
  await Promise.all(servers.map((s) => s.close()));
  await asr?.stop();
});

async function node(env: Record<string, string> = {}, logger?: pino.Logger) {
  const s = await startServer({ ASR_WORKERS: asr.address, ...env }, undefined, logger);
  servers.push(s);
  return s;
}

async function open(s: ParleyServer) {
  const socket = await TestSocket.open(s);
  sockets.push(socket);
  return socket;
}

/** The handshake's outcome: 101, or the status of the refusal. */
function handshake(s: ParleyServer, origin?: string, headers: Record<string, string> = {}): Promise<number> {
  const url = new URL(`${s.url}/ws`);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: "/ws",
      headers: {
        connection: "Upgrade",
        upgrade: "websocket",
        "sec-websocket-version": "13",
        "sec-websocket-key": randomBytes(16).toString("base64"),
        ...(origin ? { origin } : {}),
        ...headers,
      },
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on("response", (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

const post = (s: ParleyServer) =>
  fetch(`${s.url}/api/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
  });

/** Opens a socket and leaves it open (closed with the node); the handshake's status. */
async function handshakeKeepingOpen(s: ParleyServer): Promise<number> {
  try {
    await open(s);
    return 101;
  } catch (error) {
    return Number(/(\d{3})/.exec((error as Error).message)?.[1] ?? 0);
  }
}

const errorOf = (m: ServerMessage) => {
  if (m.kind.case !== "response" || m.kind.value.result.case !== "error") throw new Error("not an error response");
  return m.kind.value.result.value;
};

describe("WebSocket handshake", () => {
  it("refuses a page of another origin with 403; its own origin, listed ones and non-browsers get through", async () => {
    const s = await node({ ALLOWED_ORIGINS: "https://app.example.com" });
    expect(await handshake(s, "https://evil.example")).toBe(403);
    expect(await handshake(s, "http://127.0.0.1:1")).toBe(403); // same host, another port: another origin
    expect(await handshake(s, new URL(s.url).origin)).toBe(101);
    expect(await handshake(s, "https://app.example.com")).toBe(101);
    expect(await handshake(s)).toBe(101);
  });

  it("caps the sockets one client holds open; closing one frees a slot", async () => {
    const s = await node({ WS_MAX_SOCKETS_PER_IP: "3" });
    const held = [await open(s), await open(s), await open(s)];
    expect(await handshake(s)).toBe(429);
    await expect(TestSocket.open(s)).rejects.toThrow(/429/);
    held[0]!.close();
    await held[0]!.waitClosed();
    await expect.poll(() => handshake(s), { timeout: 5_000 }).toBe(101);
  });
});

describe("handshakes no client can crash the node with", () => {
  it("takes an X-Forwarded-For address with an IPv6 zone from a trusted proxy as the address", async () => {
    // The zone made canonicalising throw in uWS's upgrade callback: an uncaught exception, the node gone.
    const s = await node({ TRUSTED_PROXIES: "127.0.0.1" });
    expect(await handshake(s, undefined, { "x-forwarded-for": "fe80::1%eth0" })).toBe(101);
    expect(await handshake(s, undefined, { "x-forwarded-for": "[fe80::1%eth1]" })).toBe(101);
  });

  it("answers 400, and stays up, when reading a handshake throws", async () => {
    const s = await node();
    const resolve = vi.spyOn(ClientIpResolver.prototype, "resolve").mockImplementation(() => {
      throw new Error("injected: the handshake cannot be read");
    });
    try {
      expect(await handshake(s)).toBe(400);
    } finally {
      resolve.mockRestore();
    }
    expect(await handshake(s)).toBe(101);
  });
});

describe("what one client can hold", () => {
  it("with the defaults: the configured number of idle sockets and open sessions, no more", async () => {
    const s = await node();
    const { limits } = loadConfig({});
    let sessions = 0;
    while ((await post(s)).status === 201) sessions++;
    let sockets = 0;
    while ((await handshakeKeepingOpen(s)) === 101) sockets++;
    console.log(
      `one client holds at most ${sockets} idle sockets (each for ${limits.joinTimeoutMs} ms) and ${sessions} open sessions`,
    );
    expect(sessions).toBe(limits.sessionsPerIp);
    expect(sockets).toBe(limits.socketsPerIp);
  });
});

describe("one socket's limits", () => {
  it("closes a socket that does not join within the deadline (4008), not one that did", async () => {
    // Long enough for the joined socket to open and join on a busy machine.
    const s = await node({ WS_JOIN_TIMEOUT_MS: "2000" });
    const { token } = await createSession(s);
    const joined = await open(s);
    expect((await joined.request({ case: "join", value: { token } })).case).toBe("joined");
    const idle = await open(s);
    expect(await idle.waitClosed(10_000)).toMatchObject({ code: CloseCode.JOIN_TIMEOUT });
    await new Promise((resolve) => setTimeout(resolve, 300)); // past the deadline of both (joined opened first)
    expect(joined.closed).toBeUndefined();
    expect((await joined.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe("routerRtpCapabilities");
  });

  it("answers a flood with one RATE_LIMITED error, then closes the socket with 4029", async () => {
    const s = await node({ WS_MAX_MESSAGES_PER_SECOND: "5", WS_MESSAGE_BURST: "10" });
    const flooder = await open(s);
    for (let i = 0; i < 300; i++) flooder.sendRaw(new Uint8Array([0x08, i & 0x7f]));
    expect(await flooder.waitClosed(10_000)).toMatchObject({
      code: CloseCode.RATE_LIMITED,
      reason: expect.stringMatching(/rate/),
    });
    const errors = flooder.messages.map(errorOf);
    const limited = errors.filter((e) => e.code === ErrorCode.RATE_LIMITED);
    expect(limited).toHaveLength(1);
    expect(limited[0]!.retryable).toBe(true);
    expect(limited[0]!.retryAfterMs).toBeGreaterThan(0);
    expect(errors.length).toBeLessThan(300); // the rest were dropped unread
    // A socket at a normal pace is not affected.
    const calm = await open(s);
    for (let i = 0; i < 5; i++)
      expect((await calm.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe("error");
    expect(calm.closed).toBeUndefined();
  });

  it("clips what it echoes of client input, in replies and logs, and rate-limits those log lines", async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...chunk.toString().split("\n").filter(Boolean));
        done();
      },
    });
    const s = await node({}, pino({ level: "warn" }, sink));
    const huge = "A".repeat(20_000);
    const flooders = await Promise.all(
      Array.from({ length: 6 }, async () => {
        const { token } = await createSession(s);
        const socket = await open(s);
        await socket.request({ case: "join", value: { token } });
        return socket;
      }),
    );
    const replies = await Promise.all(
      flooders.flatMap((socket) =>
        Array.from({ length: 15 }, () =>
          socket.request({
            case: "connectTransport",
            value: { transportId: huge, dtlsParameters: { role: "client" } },
          }),
        ),
      ),
    );
    for (const r of replies) {
      expect(r.case).toBe("error");
      expect((r.value as { message: string }).message.length).toBeLessThan(300);
    }
    const rejected = () => lines.filter((l) => l.includes("request rejected"));
    expect(rejected().length).toBeLessThan(replies.length); // 90 rejections, fewer lines
    for (const line of lines) expect(line.length).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 200)); // the budget refills a little
    await flooders[0]!.request({
      case: "connectTransport",
      value: { transportId: huge, dtlsParameters: { role: "client" } },
    });
    const last = JSON.parse(rejected().at(-1)!) as { suppressedBefore?: number; sessionId?: string };
    expect(last.suppressedBefore).toBeGreaterThan(0);
    expect(last.sessionId).toBeDefined();
  });
});

describe("tokens and session lifetime", () => {
  it("serves one connection per token: a newer join takes over and the older socket is closed and unsubscribed", async () => {
    const s = await node();
    const { token, sessionId } = await createSession(s);
    const first = await open(s);
    expect((await first.request({ case: "join", value: { token } })).case).toBe("joined");
    const second = await open(s);
    expect((await second.request({ case: "join", value: { token } })).case).toBe("joined");
    expect(await first.waitClosed()).toMatchObject({ code: CloseCode.TAKEN_OVER });
    expect(s.bus.subscribers(`session/${sessionId}`)).toBe(1);
    const before = first.messages.length;
    expect((await second.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    expect(first.messages.length).toBe(before); // the old socket saw nothing of the end
    expect(second.messages.some((m) => m.kind.case === "event" && m.kind.value.kind.case === "conversationEnded")).toBe(
      true,
    );
  });

  it("kills a token when its session ends", async () => {
    const s = await node();
    const { token } = await createSession(s);
    const socket = await open(s);
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    expect((await socket.request({ case: "endSession", value: {} })).case).toBe("sessionEnded");
    const again = await open(s);
    const result = await again.request({ case: "join", value: { token } });
    expect(result.case).toBe("error");
    expect(result.value).toMatchObject({ code: ErrorCode.NOT_FOUND });
  });

  it("ends a session at its maximum duration, cleanly and with its final score", async () => {
    const s = await node({ SESSION_MAX_DURATION_MS: "1500" });
    const { token, sessionId } = await createSession(s);
    const socket = await open(s);
    expect((await socket.request({ case: "join", value: { token } })).case).toBe("joined");
    const ended = await socket.waitFor(
      (m) => m.kind.case === "event" && m.kind.value.kind.case === "conversationEnded",
      20_000,
    );
    if (ended.kind.case !== "event" || ended.kind.value.kind.case !== "conversationEnded")
      throw new Error("unreachable");
    expect(ended.kind.value.kind.value.reason).toBe(EndReason.MAX_DURATION);
    expect(ended.kind.value.kind.value.finalScore?.isFinal).toBe(true);
    expect(s.sessions.get(sessionId)).toBeUndefined();
    // A client that does not hang up is hung up on, normally.
    expect(await socket.waitClosed(20_000)).toMatchObject({ code: 1000, reason: "session ended" });
  });
});
