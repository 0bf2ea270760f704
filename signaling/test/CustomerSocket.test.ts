// One customer socket without a node: the replies it sends and the lines it
// logs when a request fails, with a context of fakes around it.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/ws";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../src/auth/token.ts";
import type { SessionPlacement } from "../src/cluster/SessionPlacement.ts";
import { LogThrottle } from "../src/edge/LogThrottle.ts";
import { PerClientLimit } from "../src/edge/PerClientLimit.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import type { Session } from "../src/session/Session.ts";
import { SessionRegistry } from "../src/session/SessionRegistry.ts";
import { CustomerSocket, type SocketContext } from "../src/ws/CustomerSocket.ts";

const SECRET = "unit-secret-unit-secret-unit-secret-42";

type Kind = MessageInitShape<typeof ClientMessageSchema>["kind"];

interface LogLine {
  level: number;
  msg: string;
  sessionId?: string;
  code?: string;
}

const sockets: CustomerSocket[] = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.onClose(1000); // clears its join timer
});

/** A socket whose replies and log lines are kept; `overrides` change its context. */
function socketWith(overrides: Partial<SocketContext> = {}) {
  const lines: LogLine[] = [];
  const logger = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as LogLine) });
  const bus = new LocalLiveBus(logger);
  const ctx: SocketContext = {
    sessions: new SessionRegistry({ logger, bus, nodeId: "node-1", unjoinedTtlMs: 60_000, maxDurationMs: 60_000 }),
    bus,
    placement: {} as SessionPlacement, // tokens here name no node: never asked
    nodeId: "node-1",
    rejoinGraceMs: 1_000,
    resume: async () => undefined,
    jwtSecret: SECRET,
    maxMessageBytes: 64 * 1024,
    startConversation: () => {},
    renewMedia: async () => {},
    admitSpeech: () => {},
    openSessions: new PerClientLimit(8),
    limits: { joinTimeoutMs: 60_000, messagesPerSecond: 20, messageBurst: 40 },
    logThrottle: new LogThrottle(),
    logger,
    ...overrides,
  };
  const replies: ServerMessage[] = [];
  const socket = new CustomerSocket(ctx, {
    send: (bytes) => replies.push(fromBinary(ServerMessageSchema, bytes)),
    close: () => {},
  });
  sockets.push(socket);
  const send = (kind: Kind, requestId = 1) => {
    const bytes = toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind }));
    socket.onMessage(bytes.slice().buffer, true);
  };
  return { socket, replies, lines, send };
}

const errorsOf = (replies: ServerMessage[]) =>
  replies.flatMap((m) =>
    m.kind.case === "response" && m.kind.value.result.case === "error" ? [m.kind.value.result.value] : [],
  );

const tokenFor = (sid: string) => issueToken(SECRET, { sid, store: "demo", exp: Math.floor(Date.now() / 1000) + 600 });

describe("CustomerSocket replies", () => {
  it("answers a flood with a retry hint the wire can carry, even from a bucket that never refills", () => {
    // A rate of 0 (the configuration refuses it now) made the hint infinite: encoding it threw in uWS's callback.
    const { replies, send } = socketWith({ limits: { joinTimeoutMs: 60_000, messagesPerSecond: 0, messageBurst: 1 } });
    const rtpCapabilities: Kind = { case: "getRouterRtpCapabilities", value: {} };
    send(rtpCapabilities); // takes the only token
    expect(() => send(rtpCapabilities)).not.toThrow();
    const limited = errorsOf(replies).find((e) => e.code === ErrorCode.RATE_LIMITED);
    expect(limited).toMatchObject({ retryable: true, retryAfterMs: 2 ** 32 - 1 });
  });

  it("answers INTERNAL, and logs why, when a reply cannot be encoded", async () => {
    // An error code out of the enum's int32 range cannot be written to the wire.
    const unencodable = new ParleyError((2 ** 40) as ErrorCode, "from a bug");
    const { replies, lines, send } = socketWith({
      resume: async () => {
        throw unencodable;
      },
    });
    send({ case: "join", value: { token: tokenFor("s-unencodable") } }, 7);
    await expect.poll(() => replies.length).toBe(1);
    const reply = replies[0]!;
    expect(reply.kind.case === "response" && reply.kind.value.requestId).toBe(7);
    expect(errorsOf(replies)).toEqual([expect.objectContaining({ code: ErrorCode.INTERNAL })]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 50, msg: "reply could not be encoded" }));
  });
});

describe("CustomerSocket logs of failed joins", () => {
  it("names the session of a join refused as unknown", async () => {
    const { replies, lines, send } = socketWith();
    send({ case: "join", value: { token: tokenFor("s-unknown") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.NOT_FOUND]);
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: "request rejected", code: "NOT_FOUND", sessionId: "s-unknown" }),
    );
  });

  it("names the session of a join that failed inside the node", async () => {
    const { replies, lines, send } = socketWith({
      resume: async (): Promise<Session | undefined> => {
        throw new Error("records unreachable");
      },
    });
    send({ case: "join", value: { token: tokenFor("s-internal") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.INTERNAL]);
    expect(lines).toContainEqual(
      expect.objectContaining({ level: 50, msg: "request failed", sessionId: "s-internal" }),
    );
  });

  it("names no session for a token it could not read", async () => {
    const { replies, lines, send } = socketWith();
    send({ case: "join", value: { token: "nonsense" } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.UNAUTHENTICATED]);
    const rejected = lines.find((line) => line.msg === "request rejected");
    expect(rejected).toMatchObject({ code: "UNAUTHENTICATED" });
    expect(rejected?.sessionId).toBeUndefined();
  });
});
