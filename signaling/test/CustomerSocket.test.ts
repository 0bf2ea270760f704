// One customer socket without a node: the replies it sends and the lines it
// logs when a request fails, with a context of fakes around it.
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { ErrorCode, ParleyError } from "@parley/proto/errors";
import { EndReason } from "@parley/proto/live";
import { ClientMessageSchema, type ServerMessage, ServerMessageSchema } from "@parley/proto/ws";
import type { Records, ResumableSession } from "@parley/records";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { issueToken } from "../src/auth/token.ts";
import type { SessionPlacement } from "../src/cluster/SessionPlacement.ts";
import { LogThrottle } from "../src/edge/LogThrottle.ts";
import { PerClientLimit } from "../src/edge/PerClientLimit.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import { resumeSession } from "../src/session/resumeSession.ts";
import type { Session } from "../src/session/Session.ts";
import { SessionRegistry } from "../src/session/SessionRegistry.ts";
import type { Store, StoreDirectory } from "../src/stores/StoreDirectory.ts";
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

const CLIENT_IP = "203.0.113.7";
const STORE: Store = { code: "demo", businessId: "b-1", name: "Demo", language: "en-US", currency: "EUR" };

/** A socket from CLIENT_IP whose replies and log lines are kept; `overrides` change its context. */
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
    admitSpeech: () => undefined,
    openSessions: new PerClientLimit(8),
    limits: { joinTimeoutMs: 60_000, messagesPerSecond: 20, messageBurst: 40 },
    logThrottle: new LogThrottle(),
    logger,
    ...overrides,
  };
  const replies: ServerMessage[] = [];
  const socket = new CustomerSocket(
    ctx,
    {
      send: (bytes) => replies.push(fromBinary(ServerMessageSchema, bytes)),
      close: () => {},
    },
    CLIENT_IP,
  );
  sockets.push(socket);
  const send = (kind: Kind, requestId = 1) => {
    const bytes = toBinary(ClientMessageSchema, create(ClientMessageSchema, { requestId, kind }));
    socket.onMessage(bytes.slice().buffer, true);
  };
  return { socket, replies, lines, send, ctx };
}

const errorsOf = (replies: ServerMessage[]) =>
  replies.flatMap((m) =>
    m.kind.case === "response" && m.kind.value.result.case === "error" ? [m.kind.value.result.value] : [],
  );

const tokenFor = (sid: string, node?: string) =>
  issueToken(SECRET, { sid, store: "demo", exp: Math.floor(Date.now() / 1000) + 600, ...(node ? { node } : {}) });

const joinedOf = (replies: ServerMessage[]) =>
  replies.filter((m) => m.kind.case === "response" && m.kind.value.result.case === "joined");

/** The real resume, over records that hold one open conversation of this node's, `sid`. */
function resumingFrom(sessions: SessionRegistry, sid: string): SocketContext["resume"] {
  const stored: ResumableSession = {
    sessionId: sid,
    storeCode: STORE.code,
    nodeId: "node-1",
    startedAtMs: Date.now() - 5_000,
    segments: [],
    askedQuestions: [],
    maxSeq: 3n,
  };
  const records = { resumable: async (id: string) => (id === sid ? stored : undefined) } as unknown as Records;
  const stores: StoreDirectory = { find: async () => STORE, list: async () => [STORE], hasBusiness: async () => true };
  const placement = {} as SessionPlacement; // the stored node is this one: never asked
  return (sessionId, holdSlot) =>
    resumeSession({ records, stores, sessions, placement, nodeId: "node-1", maxAgeMs: 60_000 }, sessionId, holdSlot);
}

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

/** A registry of this node's sessions (at most `maxSessions`), on a bus of its own. */
function registry(maxSessions?: number) {
  const logger = pino({ level: "silent" });
  const bus = new LocalLiveBus(logger);
  const sessions = new SessionRegistry({
    logger,
    bus,
    nodeId: "node-1",
    unjoinedTtlMs: 60_000,
    maxDurationMs: 60_000,
    ...(maxSessions === undefined ? {} : { maxSessions }),
  });
  return { sessions, bus };
}

describe("CustomerSocket limits on what a join takes on", () => {
  it("counts a conversation resumed after a restart against the joining client's open sessions", async () => {
    const { sessions, bus } = registry();
    const openSessions = new PerClientLimit(1);
    const { replies, send } = socketWith({ sessions, bus, openSessions, resume: resumingFrom(sessions, "s-resumed") });
    send({ case: "join", value: { token: tokenFor("s-resumed") } });
    await expect.poll(() => joinedOf(replies).length).toBe(1);
    expect(openSessions.held(CLIENT_IP)).toBe(1);
    // Its end gives the slot back.
    await sessions.end(sessions.get("s-resumed")!, EndReason.CUSTOMER, false);
    expect(openSessions.held(CLIENT_IP)).toBe(0);
  });

  it("refuses to resume a conversation for a client that holds its share of open sessions", async () => {
    const { sessions, bus } = registry();
    const openSessions = new PerClientLimit(1);
    const held = openSessions.acquire(CLIENT_IP);
    const { replies, send } = socketWith({ sessions, bus, openSessions, resume: resumingFrom(sessions, "s-over") });
    send({ case: "join", value: { token: tokenFor("s-over") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.RATE_LIMITED]);
    expect(errorsOf(replies)[0]?.retryable).toBe(true);
    expect(sessions.get("s-over")).toBeUndefined();
    // Once the other session ends, the same join takes it up.
    held?.();
    send({ case: "join", value: { token: tokenFor("s-over") } }, 2);
    await expect.poll(() => joinedOf(replies).length).toBe(1);
    expect(openSessions.held(CLIENT_IP)).toBe(1);
  });

  it("takes no handed-over session while the node is full, and leaves the hand-over in place", async () => {
    const { sessions, bus } = registry(1);
    sessions.create("s-already-here", STORE);
    const claimed: string[] = [];
    const placement = {
      claim: async (sessionId: string) => {
        claimed.push(sessionId);
        return { sessionId, store: STORE, clientIp: CLIENT_IP };
      },
    } as unknown as SessionPlacement;
    const { replies, send } = socketWith({ sessions, bus, placement });
    send({ case: "join", value: { token: tokenFor("s-handed", "node-1") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.UNAVAILABLE]);
    expect(errorsOf(replies)[0]).toMatchObject({ retryable: true });
    expect(claimed).toEqual([]);
    expect(sessions.size).toBe(1);
    // With room again, the same token joins.
    await sessions.end(sessions.get("s-already-here")!, EndReason.CUSTOMER, false);
    send({ case: "join", value: { token: tokenFor("s-handed", "node-1") } }, 2);
    await expect.poll(() => joinedOf(replies).length).toBe(1);
    expect(claimed).toEqual(["s-handed"]);
  });
});
