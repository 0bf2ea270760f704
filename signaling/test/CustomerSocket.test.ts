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
import { MAX_REQUESTS_IN_FLIGHT } from "../src/edge/requestsInFlight.ts";
import { LocalLiveBus } from "../src/live/LocalLiveBus.ts";
import { NO_ROOM_RETRY_AFTER_MS } from "../src/session/nodeRoom.ts";
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
    draining: () => false,
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

/**
 * The real resume, over records that hold one open conversation, `sid`: of this node's, or of
 * `storedNode`, a node that is gone.
 */
function resumingFrom(
  sessions: SessionRegistry,
  sid: string,
  { storedNode = "node-1", draining = () => false }: { storedNode?: string; draining?: () => boolean } = {},
): SocketContext["resume"] {
  const stored: ResumableSession = {
    sessionId: sid,
    storeCode: STORE.code,
    nodeId: storedNode,
    startedAtMs: Date.now() - 5_000,
    segments: [],
    askedQuestions: [],
    maxSeq: 3n,
  };
  const records = { resumable: async (id: string) => (id === sid ? stored : undefined) } as unknown as Records;
  const stores: StoreDirectory = { find: async () => STORE, list: async () => [STORE], hasBusiness: async () => true };
  // Asked only of another node: it is gone.
  const placement = { urlOf: async () => undefined } as unknown as SessionPlacement;
  return (sessionId, holdSlot) =>
    resumeSession(
      { records, stores, sessions, placement, nodeId: "node-1", maxAgeMs: 60_000, draining },
      sessionId,
      holdSlot,
    );
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

describe("CustomerSocket: what a full or draining node takes on", () => {
  it("takes no handed-over session while the node drains, and leaves the hand-over in place", async () => {
    const { sessions, bus } = registry();
    let draining = true;
    const claimed: string[] = [];
    const placement = {
      claim: async (sessionId: string) => {
        claimed.push(sessionId);
        return { sessionId, store: STORE, clientIp: CLIENT_IP };
      },
    } as unknown as SessionPlacement;
    const { replies, send } = socketWith({ sessions, bus, placement, draining: () => draining });
    send({ case: "join", value: { token: tokenFor("s-handed", "node-1") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.UNAVAILABLE]);
    expect(errorsOf(replies)[0]).toMatchObject({ retryable: true, retryAfterMs: NO_ROOM_RETRY_AFTER_MS });
    expect(claimed).toEqual([]);
    expect(sessions.size).toBe(0);
    draining = false; // (a node whose drain was called off, as it were): the same token joins
    send({ case: "join", value: { token: tokenFor("s-handed", "node-1") } }, 2);
    await expect.poll(() => joinedOf(replies).length).toBe(1);
    expect(claimed).toEqual(["s-handed"]);
  });

  it("adopts no conversation of a dead node while full; the app's retry is taken once there is room", async () => {
    const { sessions, bus } = registry(1);
    sessions.create("s-already-here", STORE);
    const resume = resumingFrom(sessions, "s-orphan", { storedNode: "node-dead" });
    const { replies, send } = socketWith({ sessions, bus, resume });
    send({ case: "join", value: { token: tokenFor("s-orphan") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.UNAVAILABLE]);
    expect(errorsOf(replies)[0]).toMatchObject({ retryable: true, retryAfterMs: NO_ROOM_RETRY_AFTER_MS });
    expect(sessions.get("s-orphan")).toBeUndefined();
    expect(sessions.size).toBe(1);
    await sessions.end(sessions.get("s-already-here")!, EndReason.CUSTOMER, false);
    send({ case: "join", value: { token: tokenFor("s-orphan") } }, 2);
    await expect.poll(() => joinedOf(replies).length).toBe(1);
    expect(sessions.get("s-orphan")).toBeDefined();
  });

  it("adopts no conversation from the records while draining: it would cut it off with SHUTDOWN", async () => {
    const { sessions, bus } = registry();
    let draining = true;
    const resume = resumingFrom(sessions, "s-orphan", { storedNode: "node-dead", draining: () => draining });
    const { replies, send } = socketWith({ sessions, bus, resume, draining: () => draining });
    send({ case: "join", value: { token: tokenFor("s-orphan") } });
    await expect.poll(() => errorsOf(replies).map((e) => e.code)).toEqual([ErrorCode.UNAVAILABLE]);
    expect(errorsOf(replies)[0]).toMatchObject({ retryable: true, retryAfterMs: NO_ROOM_RETRY_AFTER_MS });
    expect(sessions.size).toBe(0);
    draining = false;
    send({ case: "join", value: { token: tokenFor("s-orphan") } }, 2);
    await expect.poll(() => joinedOf(replies).length).toBe(1);
  });

  it("lets a customer of a session it holds join again while draining: the drain waits for that one", async () => {
    const { sessions, bus } = registry();
    sessions.create("s-live", STORE);
    const { replies, send } = socketWith({ sessions, bus, draining: () => true });
    send({ case: "join", value: { token: tokenFor("s-live") } });
    await expect.poll(() => joinedOf(replies).length).toBe(1);
  });
});

describe("CustomerSocket requests in flight", () => {
  it("answers requests beyond the in-flight cap at once with RATE_LIMITED, rather than queue them without bound", async () => {
    // A join that takes long (the records slow to answer): requests sent meanwhile wait behind it.
    let answerJoin!: () => void;
    const { replies, send } = socketWith({
      resume: () =>
        new Promise<undefined>((resolve) => {
          answerJoin = () => resolve(undefined);
        }),
    });
    send({ case: "join", value: { token: tokenFor("s-slow") } }, 1);
    const extra = 3;
    for (let id = 2; id <= MAX_REQUESTS_IN_FLIGHT + extra; id++) send({ case: "ping", value: {} }, id);
    // Those beyond the cap are answered now, each by its own request id; the rest wait.
    const refused = replies.flatMap((m) =>
      m.kind.case === "response" && m.kind.value.result.case === "error" ? [m.kind.value.requestId] : [],
    );
    expect(refused).toEqual(Array.from({ length: extra }, (_, i) => MAX_REQUESTS_IN_FLIGHT + 1 + i));
    expect(errorsOf(replies).every((e) => e.code === ErrorCode.RATE_LIMITED && e.retryable)).toBe(true);
    // The join is answered, then the queued pings in order; then the socket takes requests again.
    await expect.poll(() => typeof answerJoin).toBe("function");
    answerJoin();
    const pongs = () =>
      replies.flatMap((m) =>
        m.kind.case === "response" && m.kind.value.result.case === "pong" ? [m.kind.value.requestId] : [],
      );
    await expect.poll(pongs).toEqual(Array.from({ length: MAX_REQUESTS_IN_FLIGHT - 1 }, (_, i) => 2 + i));
    send({ case: "ping", value: {} }, 100);
    await expect.poll(() => pongs().at(-1)).toBe(100);
  });
});
