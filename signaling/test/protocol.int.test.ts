// Bad input on the edge: each gets a clear, typed error (or a clean
// teardown), a log line and a metric; the process keeps serving.
import { randomUUID } from "node:crypto";
import { ErrorCode, TransportDirection } from "@parley/proto/ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { issueToken } from "../src/auth/token.ts";
import type { ParleyServer } from "../src/ParleyServer.ts";
import { createSession, startServer, TestSocket } from "./harness.ts";

let server: ParleyServer;
beforeAll(async () => {
  // A dropped socket's conversation waits 1 s for the customer to come back.
  server = await startServer({ WS_REJOIN_GRACE_MS: "1000" });
});
afterAll(async () => {
  await server?.close();
});

const errorOf = (result: { case: string | undefined; value?: unknown }) => {
  expect(result.case).toBe("error");
  return result.value as { code: ErrorCode; message: string };
};

// Real DTLS parameters are not needed to connect the server side of a transport.
const someDtls = { role: "client", fingerprints: [{ algorithm: "sha-256", value: Array(32).fill("AB").join(":") }] };
const opusRtpParameters = (ssrc: number) => ({
  mid: "0",
  codecs: [
    { mimeType: "audio/opus", payloadType: 111, clockRate: 48_000, channels: 2, parameters: { useinbandfec: 1 } },
  ],
  encodings: [{ ssrc }],
  rtcp: { cname: "test" },
});

async function joined(storeCode = "demo") {
  const { token, sessionId } = await createSession(server, storeCode);
  const socket = await TestSocket.open(server);
  const result = await socket.request({ case: "join", value: { token } });
  expect(result.case).toBe("joined");
  return { socket, sessionId, token };
}

describe("POST /api/sessions", () => {
  const consent = { given: true, version: "test-1" };
  const post = (body: string, contentType = "application/json") =>
    fetch(`${server.url}/api/sessions`, { method: "POST", headers: { "content-type": contentType }, body });

  it("issues a session id and a token", async () => {
    const res = await post(JSON.stringify({ storeCode: "demo", consent }));
    expect(res.status).toBe(201);
    const body = (await res.json()) as { sessionId: string; token: string; expiresAt: string; dataCode: string };
    expect(body.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.token.split(".")).toHaveLength(3);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect(body.dataCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  });

  it("refuses a store code that names no known store", async () => {
    const res = await post(JSON.stringify({ storeCode: "made-up-store", consent }));
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: string }).error).toMatch(/unknown store/);
  });

  it("refuses a session without the customer's consent to the recording", async () => {
    const res = await post(JSON.stringify({ storeCode: "demo" }));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/consent/);
    expect((await post(JSON.stringify({ storeCode: "demo", consent: { given: false, version: "x" } }))).status).toBe(
      400,
    );
  });

  it("rejects bad bodies with a reason", async () => {
    expect((await post("{nope")).status).toBe(400);
    expect((await post(JSON.stringify({ storeCode: "../../etc" }))).status).toBe(400);
    expect((await post(JSON.stringify({}))).status).toBe(400);
    for (const notAnObject of ["null", "3", "[]", '"demo"']) expect((await post(notAnObject)).status).toBe(400);
    expect((await post("storeCode=x", "application/x-www-form-urlencoded")).status).toBe(415);
    expect((await post(JSON.stringify({ storeCode: "a".repeat(10_000) }))).status).toBe(413);
  });

  it("refuses a NUL in any text before storing anything, rather than a 201 whose session cannot be kept", async () => {
    for (const field of [
      { receipt: "r\u0000x" },
      { consent: { ...consent, version: "v\u0000" } },
      { deviceId: "\u0000" },
    ]) {
      const res = await post(JSON.stringify({ storeCode: "demo", consent, ...field }));
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: string }).error).toMatch(/NUL/);
    }
  });
});

describe("WebSocket protocol errors", () => {
  it("answers a frame that is not protobuf with BAD_FRAME and keeps the connection", async () => {
    const socket = await TestSocket.open(server);
    socket.sendRaw(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]));
    const bad = await socket.waitFor((m) => m.kind.case === "response");
    if (bad.kind.case !== "response") throw new Error("unreachable");
    expect(errorOf(bad.kind.value.result).code).toBe(ErrorCode.BAD_FRAME);
    // Still usable:
    expect(errorOf(await socket.request({ case: "getRouterRtpCapabilities", value: {} })).code).toBe(
      ErrorCode.OUT_OF_ORDER,
    );
    socket.close();
  });

  it("refuses text frames", async () => {
    const socket = await TestSocket.open(server);
    socket.sendRaw("hello");
    const reply = await socket.waitFor((m) => m.kind.case === "response");
    if (reply.kind.case !== "response") throw new Error("unreachable");
    expect(errorOf(reply.kind.value.result)).toMatchObject({
      code: ErrorCode.BAD_FRAME,
      message: expect.stringMatching(/text/),
    });
    socket.close();
  });

  it("answers an oversized frame with TOO_LARGE, and cuts off a huge one without harm", async () => {
    const socket = await TestSocket.open(server);
    socket.sendRaw(new Uint8Array(server.config.maxWsMessageBytes + 1));
    const reply = await socket.waitFor((m) => m.kind.case === "response");
    if (reply.kind.case !== "response") throw new Error("unreachable");
    expect(errorOf(reply.kind.value.result).code).toBe(ErrorCode.TOO_LARGE);
    socket.sendRaw(new Uint8Array(server.config.maxWsMessageBytes * 8));
    expect((await socket.waitClosed()).code).toBe(1006);
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
  });

  it("answers an unknown message with UNKNOWN_MESSAGE", async () => {
    const socket = await TestSocket.open(server);
    // Field 99 is not part of ClientMessage: the oneof stays empty.
    socket.sendRaw(new Uint8Array([0x08, 0x07, 0x9a, 0x06, 0x00]));
    const reply = await socket.waitFor((m) => m.kind.case === "response");
    if (reply.kind.case !== "response") throw new Error("unreachable");
    expect(reply.kind.value.requestId).toBe(7);
    expect(errorOf(reply.kind.value.result).code).toBe(ErrorCode.UNKNOWN_MESSAGE);
    socket.close();
  });

  it("rejects signalling before join", async () => {
    const socket = await TestSocket.open(server);
    const result = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    expect(errorOf(result)).toMatchObject({ code: ErrorCode.OUT_OF_ORDER, message: expect.stringMatching(/join/) });
    socket.close();
  });

  it("rejects bad, forged and expired tokens, and unknown sessions", async () => {
    const socket = await TestSocket.open(server);
    expect(errorOf(await socket.request({ case: "join", value: { token: "nonsense" } })).code).toBe(
      ErrorCode.UNAUTHENTICATED,
    );
    const forged = issueToken("another-secret-another-secret-123456", { sid: randomUUID(), store: "x", exp: 2e9 });
    expect(errorOf(await socket.request({ case: "join", value: { token: forged } })).message).toMatch(/signature/);
    const { sessionId } = await createSession(server);
    const expired = issueToken(server.config.jwtSecret, {
      sid: sessionId,
      store: "x",
      exp: Math.floor(Date.now() / 1000) - 5,
    });
    expect(errorOf(await socket.request({ case: "join", value: { token: expired } })).message).toMatch(/expired/);
    const unknown = issueToken(server.config.jwtSecret, { sid: randomUUID(), store: "x", exp: 2e9 });
    expect(errorOf(await socket.request({ case: "join", value: { token: unknown } })).code).toBe(ErrorCode.NOT_FOUND);
    socket.close();
  });

  it("hands the session to a newer connection and closes the older one at once", async () => {
    const { token, sessionId } = await createSession(server);
    const first = await TestSocket.open(server);
    expect((await first.request({ case: "join", value: { token } })).case).toBe("joined");
    const second = await TestSocket.open(server);
    expect((await second.request({ case: "join", value: { token } })).case).toBe("joined");
    expect(await first.waitClosed()).toMatchObject({ code: 4002, reason: expect.stringMatching(/taken over/) });
    // Only the newer socket listens to the session now.
    expect(server.bus.subscribers(`session/${sessionId}`)).toBe(1);
    expect((await second.request({ case: "getRouterRtpCapabilities", value: {} })).case).toBe("routerRtpCapabilities");
    second.close();
    await expect.poll(() => server.sessions.get(sessionId), { timeout: 5_000 }).toBeUndefined();
    expect(server.bus.subscribers(`session/${sessionId}`)).toBe(0);
  });

  it("rejects produce before connect, and a second producer", async () => {
    const { socket } = await joined();
    const created = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
    const transportId = created.value.id;
    const early = await socket.request({
      case: "produce",
      value: { transportId, kind: "audio", rtpParameters: opusRtpParameters(1111) },
    });
    expect(errorOf(early)).toMatchObject({ code: ErrorCode.OUT_OF_ORDER, message: expect.stringMatching(/connect/) });
    expect(
      (await socket.request({ case: "connectTransport", value: { transportId, dtlsParameters: someDtls } })).case,
    ).toBe("transportConnected");
    const first = await socket.request({
      case: "produce",
      value: { transportId, kind: "audio", rtpParameters: opusRtpParameters(2222) },
    });
    expect(first.case).toBe("produced");
    const second = await socket.request({
      case: "produce",
      value: { transportId, kind: "audio", rtpParameters: opusRtpParameters(3333) },
    });
    expect(errorOf(second).code).toBe(ErrorCode.ALREADY_EXISTS);
    const video = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    expect(errorOf(video).code).toBe(ErrorCode.ALREADY_EXISTS);
    const wrong = await socket.request({
      case: "connectTransport",
      value: { transportId: "nope", dtlsParameters: someDtls },
    });
    expect(errorOf(wrong).code).toBe(ErrorCode.NOT_FOUND);
    socket.close();
  });

  it("answers a ping with a pong, joined or not, in order with the requests before it", async () => {
    const socket = await TestSocket.open(server);
    expect((await socket.request({ case: "ping", value: {} })).case).toBe("pong");
    const { socket: customer } = await joined();
    expect((await customer.request({ case: "ping", value: {} })).case).toBe("pong");
    socket.close();
    customer.close();
  });

  it("restarts ICE on a transport of the session's own with fresh credentials, and refuses any other", async () => {
    const { socket } = await joined();
    const created = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
    const restarted = await socket.request({ case: "restartIce", value: { transportId: created.value.id } });
    if (restarted.case !== "iceRestarted") throw new Error(`got ${restarted.case}`);
    const before = created.value.iceParameters!;
    const after = restarted.value.iceParameters!;
    expect(after.usernameFragment).not.toBe(before.usernameFragment);
    expect(after.password).not.toBe(before.password);
    expect(after.iceLite).toBe(true);
    // Another session's transport is as unknown to this one as a made-up id.
    const { socket: other } = await joined();
    const theirs = await other.request({ case: "restartIce", value: { transportId: created.value.id } });
    expect(errorOf(theirs).code).toBe(ErrorCode.NOT_FOUND);
    expect(errorOf(await socket.request({ case: "restartIce", value: { transportId: "nope" } })).code).toBe(
      ErrorCode.NOT_FOUND,
    );
    const stranger = await TestSocket.open(server);
    const early = await stranger.request({ case: "restartIce", value: { transportId: "x" } });
    expect(errorOf(early).code).toBe(ErrorCode.OUT_OF_ORDER);
    for (const s of [socket, other, stranger]) s.close();
  });

  it("keeps the conversation for a customer whose socket dropped and who joins again in time", async () => {
    const { token, sessionId } = await createSession(server);
    const first = await TestSocket.open(server);
    expect((await first.request({ case: "join", value: { token } })).case).toBe("joined");
    const session = server.sessions.get(sessionId);
    first.ws.terminate(); // no close frame: the network dropped
    await new Promise((r) => setTimeout(r, 200));
    const again = await TestSocket.open(server);
    expect((await again.request({ case: "join", value: { token } })).case).toBe("joined");
    await new Promise((r) => setTimeout(r, 1_500)); // past the grace period
    expect(server.sessions.get(sessionId)).toBe(session);
    expect(session!.ended).toBe(false);
    again.close();
    await expect.poll(() => server.sessions.get(sessionId), { timeout: 5_000 }).toBeUndefined();
  });

  it("gives a customer who joins again fresh media to set up: the old connection's transports went with it", async () => {
    const { socket: first, sessionId, token } = await joined();
    const sendOn = async (socket: TestSocket) => {
      const created = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
      if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
      await socket.request({
        case: "connectTransport",
        value: { transportId: created.value.id, dtlsParameters: someDtls },
      });
      const produced = await socket.request({
        case: "produce",
        value: { transportId: created.value.id, kind: "audio", rtpParameters: opusRtpParameters(5555) },
      });
      return produced.case;
    };
    expect(await sendOn(first)).toBe("produced");
    const session = server.sessions.get(sessionId)!;
    const before = session.media!;
    first.ws.terminate(); // the network dropped
    await new Promise((r) => setTimeout(r, 200));
    const again = await TestSocket.open(server);
    expect((await again.request({ case: "join", value: { token } })).case).toBe("joined");
    // The same conversation, on fresh media: the microphone can be set up again (ALREADY_EXISTS before).
    expect(server.sessions.get(sessionId)).toBe(session);
    expect(before.closed).toBe(true);
    expect(session.media).not.toBe(before);
    expect(await sendOn(again)).toBe("produced");
    expect(session.media?.transportCount).toBe(1);
    again.close();
  });

  it("tears everything down when the client vanishes mid-stream and does not come back", async () => {
    const { socket, sessionId } = await joined();
    const created = await socket.request({ case: "createTransport", value: { direction: TransportDirection.SEND } });
    if (created.case !== "transportCreated") throw new Error(`got ${created.case}`);
    await socket.request({
      case: "connectTransport",
      value: { transportId: created.value.id, dtlsParameters: someDtls },
    });
    await socket.request({
      case: "produce",
      value: { transportId: created.value.id, kind: "audio", rtpParameters: opusRtpParameters(4444) },
    });
    const session = server.sessions.get(sessionId)!;
    const media = session.media; // an ended session lets go of its parts
    expect((await server.mediaPool.transportCounts())[0]?.transports).toBeGreaterThan(0);
    socket.ws.terminate(); // no close frame: the client just disappears
    await expect.poll(() => server.sessions.get(sessionId), { timeout: 5_000 }).toBeUndefined();
    expect(media?.closed).toBe(true);
    expect(session.media).toBeUndefined();
    await expect
      .poll(() => server.asrPool.workers.reduce((n, w) => n + w.activeStreams, 0), { timeout: 5_000 })
      .toBe(0);
    await expect.poll(() => server.mediaPool.describe()[0]?.sessions, { timeout: 5_000 }).toBe(0);
    await expect
      .poll(async () => (await server.mediaPool.transportCounts())[0]?.transports, { timeout: 5_000 })
      .toBe(0);
  });

  it("reports readiness: media workers, speech workers and the scoring engine", async () => {
    const res = await fetch(`${server.internalUrl}/ready`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as {
      ready: boolean;
      media: unknown[];
      asr: { ok: boolean; engine: string }[];
      scoring: { engine: string };
    };
    expect(body.ready).toBe(true);
    expect(body.media).toHaveLength(1);
    expect(body.asr[0]).toMatchObject({ ok: true, engine: "pocketsphinx" });
    expect(body.scoring.engine).toBe("builtin");
  });

  it("counts errors in /metrics", async () => {
    const metrics = await (await fetch(`${server.internalUrl}/metrics`)).text();
    expect(metrics).toMatch(/ws_errors_total\{code="BAD_FRAME"\} [1-9]/);
    expect(metrics).toMatch(/ws_errors_total\{code="UNAUTHENTICATED"\} [1-9]/);
    expect(metrics).toMatch(/http_requests_total\{method="POST",route="\/api\/sessions",status_code="400"\}/);
  });
});
