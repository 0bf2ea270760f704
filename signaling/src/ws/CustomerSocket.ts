// The binary protobuf protocol of one customer WebSocket: join with a token,
// mediasoup signalling, then live events on the session's topic. Every
// request gets a Response with its request_id; every failure a typed Error.
//
// Abuse limits of one socket: it must join within a deadline (else 4008);
// its messages are rate-limited (a flood gets one RATE_LIMITED error, then
// the socket is closed with 4029); log lines echoing what it sent are
// clipped and rate-limited per node.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { SpeechReservation } from "@parley/inference-bridge";
import type { CustomerMedia } from "@parley/media";
import { ErrorCode, ParleyError, toParleyError } from "@parley/proto/errors";
import { EndReason } from "@parley/proto/live";
import {
  dtlsFromProto,
  dtlsToProto,
  iceCandidateToProto,
  iceParametersToProto,
  rtpCapabilitiesFromProto,
  rtpCapabilitiesToProto,
  rtpParametersFromProto,
  rtpParametersToProto,
} from "@parley/proto/mediasoup";
import {
  type ClientMessage,
  ClientMessageSchema,
  type Response,
  ServerMessageSchema,
  TransportDirection,
} from "@parley/proto/ws";
import type { Logger } from "pino";
import { type SessionClaims, verifyToken } from "../auth/token.ts";
import { placementUnknown, type SessionPlacement, unreachableOwner, wsUrlOf } from "../cluster/SessionPlacement.ts";
import { clip, type LogThrottle } from "../edge/LogThrottle.ts";
import type { PerClientLimit } from "../edge/PerClientLimit.ts";
import { MAX_REQUESTS_IN_FLIGHT } from "../edge/requestsInFlight.ts";
import { TokenBucket } from "../edge/TokenBucket.ts";
import type { LiveBus, Unsubscribe } from "../live/LiveBus.ts";
import { liveTopic } from "../live/LiveBus.ts";
import { wsErrorsTotal, wsMessagesTotal } from "../metrics.ts";
import { noRoom } from "../session/nodeRoom.ts";
import type { Session, SessionOwner } from "../session/Session.ts";
import type { SessionOrigin, SessionRegistry } from "../session/SessionRegistry.ts";

type Result = Response["result"];

export interface SocketContext {
  sessions: SessionRegistry;
  bus: LiveBus;
  /** Sessions created on another node for this one, and where other nodes are. */
  placement: SessionPlacement;
  nodeId: string;
  /** How long a conversation whose socket dropped waits for the customer to join again. */
  rejoinGraceMs: number;
  /**
   * A session unknown here that its records say is still open: taken up again
   * (see resumeSession). `holdSlot` is called just before the session is
   * made: what it returns is counted against per-client limits, and it
   * throws when the client holds its share already.
   */
  resume: (sessionId: string, holdSlot: () => SessionOrigin | undefined) => Promise<Session | undefined>;
  jwtSecret: string;
  maxMessageBytes: number;
  /** Builds the session's conversation on its first join. */
  startConversation: (session: Session) => void;
  /**
   * Gives a started session fresh media, on the same audio timeline: a
   * customer who joins again lost their WebRTC transports with the old
   * connection, and sets them up again.
   */
  renewMedia: (session: Session) => Promise<void>;
  /** The microphone is about to send: hold speech capacity, or throw UNAVAILABLE. */
  /** Holds a speech slot for the session's microphone (undefined: none needed); throws UNAVAILABLE when full. */
  admitSpeech: (session: Session) => SpeechReservation | undefined;
  /** The node is shutting down: it takes on no session it does not hold yet (see nodeRoom). */
  draining: () => boolean;
  /** Sessions not yet ended per client address (SESSIONS_MAX_PER_IP), of the sessions this node holds. */
  openSessions: PerClientLimit;
  limits: { joinTimeoutMs: number; messagesPerSecond: number; messageBurst: number };
  /** Shared by every socket of the node: lines that echo client input. */
  logThrottle: LogThrottle;
  logger: Logger;
}

/** What the socket layer must provide: raw send and close. */
export interface SocketPort {
  send(bytes: Uint8Array): void;
  close(code: number, reason: string): void;
}

/** WebSocket close codes this socket uses (4000–4999 are the application's). */
export const CloseCode = {
  /** The session's media worker died. */
  MEDIA_LOST: 4001,
  /** A newer connection joined the same session. */
  TAKEN_OVER: 4002,
  /** No join within the deadline (like HTTP 408). */
  JOIN_TIMEOUT: 4008,
  /** Messages kept coming faster than the limit after a RATE_LIMITED error (like HTTP 429). */
  RATE_LIMITED: 4029,
} as const;

/**
 * How long a socket stays open after its session ended: the reward is
 * decided from the stored conversation just after the end (the app waits up
 * to 10 s for it).
 */
const SESSION_END_LINGER_MS = 12_000;

/** The largest value of a uint32 field (retry_after_ms). */
const UINT32_MAX = 2 ** 32 - 1;

export class CustomerSocket implements SessionOwner {
  readonly #ctx: SocketContext;
  readonly #port: SocketPort;
  /** Where the socket comes from (as the edge resolved it): the client whose caps count what it takes on. */
  readonly #clientIp: string | undefined;
  #session: Session | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #logger: Logger;
  #closed = false;
  /** Requests are handled one at a time, in order: signalling is stateful. */
  #queue: Promise<void> = Promise.resolve();
  /** Requests queued or under way, not answered yet. */
  #inFlight = 0;
  readonly #rate: TokenBucket;
  /** Messages refused in a row for the rate; reset by one that is accepted. */
  #refusedInARow = 0;
  #joinTimer: NodeJS.Timeout | undefined;
  #lingerTimer: NodeJS.Timeout | undefined;
  /** The session ended while this socket held it. */
  #heldAtEnd = false;

  constructor(ctx: SocketContext, port: SocketPort, clientIp?: string) {
    this.#ctx = ctx;
    this.#port = port;
    this.#clientIp = clientIp;
    this.#logger = ctx.logger;
    this.#rate = new TokenBucket(ctx.limits.messagesPerSecond, ctx.limits.messageBurst);
    this.#joinTimer = setTimeout(
      () => this.#close(CloseCode.JOIN_TIMEOUT, "no join in time"),
      ctx.limits.joinTimeoutMs,
    );
  }

  onMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#closed) return;
    if (!this.#rate.take()) {
      this.#onTooFast();
      return;
    }
    this.#refusedInARow = 0;
    // uWS reuses `data` after this call returns: decode (which copies) now.
    let message: ClientMessage;
    try {
      if (!isBinary) throw new ParleyError(ErrorCode.BAD_FRAME, "text frames are not accepted; send binary protobuf");
      if (data.byteLength > this.#ctx.maxMessageBytes)
        throw new ParleyError(
          ErrorCode.TOO_LARGE,
          `frame of ${data.byteLength} bytes exceeds ${this.#ctx.maxMessageBytes}`,
        );
      try {
        message = fromBinary(ClientMessageSchema, new Uint8Array(data));
      } catch {
        throw new ParleyError(ErrorCode.BAD_FRAME, "frame is not a valid ClientMessage");
      }
    } catch (error) {
      wsMessagesTotal.inc({ type: "invalid" });
      this.#reply(0, this.#errorResult(error));
      return;
    }
    wsMessagesTotal.inc({ type: message.kind.case ?? "unknown" });
    // Within the rate, requests may still pile up behind one that takes long (a slow join, a
    // graceful end): each held here until answered, in memory the socket could grow without bound.
    if (this.#inFlight >= MAX_REQUESTS_IN_FLIGHT) {
      this.#reply(
        message.requestId,
        this.#errorResult(
          new ParleyError(
            ErrorCode.RATE_LIMITED,
            `too many requests in flight (${MAX_REQUESTS_IN_FLIGHT}): wait for answers`,
            {
              retryable: true,
              // No clock says when one finishes: a hint of one request's time at the sustained rate.
              retryAfterMs: Math.ceil(1000 / this.#ctx.limits.messagesPerSecond),
            },
          ),
        ),
      );
      return;
    }
    this.#inFlight++;
    this.#queue = this.#queue.then(async () => {
      try {
        if (this.#closed) return;
        let result: Result;
        try {
          result = await this.#handle(message);
        } catch (error) {
          result = this.#errorResult(error);
        }
        this.#reply(message.requestId, result);
      } finally {
        this.#inFlight--;
      }
    });
  }

  /**
   * A message beyond the rate: the first of a run is answered with
   * RATE_LIMITED and a retry hint, the rest are dropped unread; a run as long
   * as the burst closes the socket.
   */
  #onTooFast(): void {
    this.#refusedInARow++;
    wsMessagesTotal.inc({ type: "rate_limited" });
    if (this.#refusedInARow === 1) {
      this.#reply(
        0,
        this.#errorResult(
          new ParleyError(ErrorCode.RATE_LIMITED, "too many messages: slow down", {
            retryable: true,
            retryAfterMs: this.#rate.msUntilNext(),
          }),
        ),
      );
    } else if (this.#refusedInARow >= this.#ctx.limits.messageBurst) {
      this.#warn({ refused: this.#refusedInARow }, "closing a socket that kept flooding");
      this.#close(CloseCode.RATE_LIMITED, "message rate exceeded");
    }
  }

  /** Closes the socket from our side (the socket layer then calls onClose). */
  #close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#port.close(code, reason);
  }

  /** The browser went away: tear the session's media down (its transcript is flushed). */
  onClose(code: number): void {
    this.#closed = true;
    clearTimeout(this.#joinTimer);
    clearTimeout(this.#lingerTimer);
    this.#stopListening();
    const session = this.#session;
    if (!session?.release(this)) return;
    // A socket closed on purpose (a close frame: 1000, or 1005 without a
    // code) ends the conversation now. One that dropped (the network, a page
    // reload) may come back with its token: the conversation waits a while.
    const graceMs = code === 1000 || code === 1005 ? 0 : this.#ctx.rejoinGraceMs;
    this.#logger.info({ code, graceMs }, "customer socket closed");
    const end = () => {
      if (!session.ended && !session.hasOwner) void this.#ctx.sessions.end(session, EndReason.DISCONNECTED, true);
    };
    if (graceMs === 0) end();
    else session.waitForRejoin(graceMs, end);
  }

  /** SessionOwner: the session was taken over by a newer connection, or it ended. */
  detach(reason: EndReason | "taken_over"): void {
    if (reason === "taken_over") {
      this.#stopListening();
      this.#logger.info("session taken over by a newer connection");
      if (!this.#closed) this.#port.close(CloseCode.TAKEN_OVER, "session taken over by another connection");
    } else if (reason === EndReason.MEDIA_LOST) {
      this.#stopListening();
      if (!this.#closed) this.#port.close(CloseCode.MEDIA_LOST, "media worker lost");
    } else {
      // The customer received ConversationEnded; it keeps listening for the
      // reward decision that follows, and hangs up itself. One that does not
      // (the socket would live on, kept up by pings) is closed after a while.
      this.#heldAtEnd = true;
      this.#lingerTimer = setTimeout(() => this.#close(1000, "session ended"), SESSION_END_LINGER_MS);
    }
  }

  #stopListening(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async #handle(message: ClientMessage): Promise<Result> {
    const kind = message.kind;
    if (kind.case === undefined) throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown or empty message");
    if (kind.case === "join") return this.#join(kind.value.token);
    if (kind.case === "ping") return { case: "pong", value: { $typeName: "parley.ws.v1.Pong" } };
    const session = this.#session;
    if (!session) throw new ParleyError(ErrorCode.OUT_OF_ORDER, `join before ${kind.case}`);
    // The node ended it while this socket held it (the conversation ended by itself, its end already
    // sent): the app's own "end it" is answered as done.
    if (kind.case === "endSession" && session.ended && this.#heldAtEnd)
      return { case: "sessionEnded", value: { $typeName: "parley.ws.v1.SessionEnded" } };
    if (session.ended || !session.isOwner(this)) throw superseded();
    const media = session.media!;
    /** What a media request made, undone when this socket no longer holds the session by its end. */
    const settled = <T>(request: Promise<T>, undo: (made: T) => void = () => {}) =>
      this.#settled(session, media, request, undo);
    switch (kind.case) {
      case "getRouterRtpCapabilities":
        return { case: "routerRtpCapabilities", value: rtpCapabilitiesToProto(media.rtpCapabilities) };
      case "createTransport": {
        const direction = kind.value.direction;
        if (direction !== TransportDirection.SEND && direction !== TransportDirection.RECV)
          throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "transport direction must be SEND or RECV");
        const transport = await settled(
          media.createTransport(direction === TransportDirection.SEND ? "send" : "recv"),
          (made) => made.close(),
        );
        return {
          case: "transportCreated",
          value: {
            $typeName: "parley.ws.v1.TransportCreated",
            id: transport.id,
            iceParameters: iceParametersToProto(transport.iceParameters),
            iceCandidates: transport.iceCandidates.map(iceCandidateToProto),
            dtlsParameters: dtlsToProto(transport.dtlsParameters),
          },
        };
      }
      case "connectTransport":
        await settled(media.connectTransport(kind.value.transportId, dtlsFromProto(kind.value.dtlsParameters)));
        return { case: "transportConnected", value: { $typeName: "parley.ws.v1.TransportConnected" } };
      case "produce": {
        // Refused here, before the customer talks, when no speech worker has room.
        const reservation = media.producerId ? undefined : this.#ctx.admitSpeech(session);
        let producer: Awaited<ReturnType<typeof media.produce>>;
        try {
          producer = await settled(
            media.produce(kind.value.transportId, kind.value.kind, rtpParametersFromProto(kind.value.rtpParameters)),
            (made) => made.close(),
          );
        } catch (error) {
          // A produce that failed (no such transport, bad parameters) holds no slot: others may talk.
          reservation?.release();
          throw error;
        }
        session.logger.info({ producerId: producer.id }, "microphone producing");
        return { case: "produced", value: { $typeName: "parley.ws.v1.Produced", producerId: producer.id } };
      }
      case "consumeAiVoice": {
        const consumer = await settled(
          media.consumeAiVoice(kind.value.transportId, rtpCapabilitiesFromProto(kind.value.rtpCapabilities)),
          (made) => made.close(),
        );
        return {
          case: "consumed",
          value: {
            $typeName: "parley.ws.v1.Consumed",
            consumerId: consumer.id,
            producerId: consumer.producerId,
            kind: consumer.kind,
            rtpParameters: rtpParametersToProto(consumer.rtpParameters),
          },
        };
      }
      case "restartIce": {
        const iceParameters = await settled(media.restartIce(kind.value.transportId));
        session.logger.info({ transportId: kind.value.transportId }, "ICE restarted");
        return {
          case: "iceRestarted",
          value: { $typeName: "parley.ws.v1.IceRestarted", iceParameters: iceParametersToProto(iceParameters) },
        };
      }
      case "resumeConsumer":
        await settled(media.resumeConsumer(kind.value.consumerId));
        return { case: "consumerResumed", value: { $typeName: "parley.ws.v1.ConsumerResumed" } };
      case "endSession":
        await this.#ctx.sessions.end(session, EndReason.CUSTOMER, true);
        return { case: "sessionEnded", value: { $typeName: "parley.ws.v1.SessionEnded" } };
      default:
        throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown message");
    }
  }

  /**
   * The outcome of a media request, once it is known that this socket still holds the session and
   * its media. A newer socket may have joined while the request was under way (this one dropped, or
   * was taken over), not knowing of what it would make: a transport made for the old connection would
   * sit on the media they share and refuse the new one's own (ALREADY_EXISTS). What it made is undone,
   * and the request answered as any from a socket whose session went on without it.
   */
  async #settled<T>(session: Session, media: CustomerMedia, request: Promise<T>, undo: (made: T) => void): Promise<T> {
    const made = await request;
    if (this.#closed || session.ended || !session.isOwner(this) || session.media !== media) {
      undo(made);
      throw superseded();
    }
    return made;
  }

  async #join(token: string): Promise<Result> {
    if (this.#session) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "already joined");
    const claims = verifyToken(this.#ctx.jwtSecret, token);
    // Before the join succeeds the socket's logger names no session: a failed join must say which it was.
    const logger = this.#ctx.logger.child({ sessionId: claims.sid });
    try {
      return await this.#joinSession(claims);
    } catch (error) {
      return this.#errorResult(error, logger);
    }
  }

  async #joinSession(claims: SessionClaims): Promise<Result> {
    // A session that ended here lately is known as ended (its token is dead), even before records stored the end.
    const recent = this.#ctx.sessions.recent(claims.sid);
    const session =
      recent ??
      (await this.#handedOver(claims)) ??
      // Not live here: a conversation whose node restarted is taken up again from its records.
      (await this.#resume(claims.sid));
    // An ended session is gone from the registry: its token is dead.
    if (!session || session.ended) throw new ParleyError(ErrorCode.NOT_FOUND, "unknown session");
    if (this.#closed) throw new ParleyError(ErrorCode.NOT_FOUND, "the socket closed");
    if (!session.started) this.#ctx.startConversation(session);
    else if (session.media && (session.media.closed || session.media.transportCount > 0)) {
      // Joining again (the connection dropped, or a new one takes over): the transports of the old
      // connection are dead, and a session holds one of each direction. Fresh media, same conversation.
      await this.#ctx.renewMedia(session);
      if (this.#closed || session.ended) throw new ParleyError(ErrorCode.NOT_FOUND, "the socket or session closed");
    }
    clearTimeout(this.#joinTimer);
    this.#session = session;
    this.#logger = session.logger;
    // Listen before taking over, so that no event falls between the two sockets.
    this.#unsubscribe = this.#ctx.bus.subscribe(liveTopic.session(session.id), (message) => {
      if (!this.#closed) this.#port.send(message.serverFrame());
    });
    session.attach(this);
    session.publishRestoredTranscript();
    session.logger.info("customer joined");
    return { case: "joined", value: { $typeName: "parley.ws.v1.Joined", sessionId: session.id } };
  }

  /**
   * A session created on another node for this one is picked up here, once.
   * A token naming another node is answered with where that node is.
   */
  async #handedOver(claims: SessionClaims): Promise<Session | undefined> {
    if (!claims.node) return undefined;
    if (claims.node !== this.#ctx.nodeId) {
      const url = await this.#ctx.placement.urlOf(claims.node).catch((err: unknown) => {
        throw placementUnknown(err);
      });
      // Its node is gone (it crashed, or came back under another name): taken up from its records, as any.
      if (url === undefined) return undefined;
      if (url === null) throw unreachableOwner();
      throw new ParleyError(ErrorCode.WRONG_NODE, "this session lives on another node", {
        redirectUrl: wsUrlOf(url),
      });
    }
    // Picked up before (this is a rejoin): no need of Redis, which may be down.
    const live = this.#ctx.sessions.get(claims.sid);
    if (live) return live;
    // The node that placed it here judged the room by a heartbeat seconds old (and this one may have
    // started draining since). Not taken, the hand-over waits out the token: the customer's "try
    // again" creates a session placed anew.
    const refusal = noRoom({ full: this.#ctx.sessions.full, draining: this.#ctx.draining() });
    if (refusal) throw refusal;
    let handed: Awaited<ReturnType<SessionPlacement["claim"]>>;
    try {
      handed = await this.#ctx.placement.claim(claims.sid);
    } catch (err) {
      // Redis is away. A conversation that started here before this node restarted is in the
      // records: take it up; otherwise where it stands is unknown until Redis answers.
      const resumed = await this.#resume(claims.sid).catch(() => undefined);
      if (resumed) return resumed;
      throw placementUnknown(err);
    }
    if (!handed) return this.#ctx.sessions.get(claims.sid); // taken meanwhile by another socket
    const origin = this.#holdClientSlot(handed.clientIp);
    if (origin === "refused") {
      // Put back for the token's remaining life: the same join succeeds once another session of this client ends.
      const leftMs = claims.exp * 1000 - Date.now();
      await this.#ctx.placement.handOver(this.#ctx.nodeId, handed, Math.max(leftMs, 1_000)).catch(() => undefined);
      throw this.#tooManyOpenSessions();
    }
    const session = this.#ctx.sessions.create(handed.sessionId, handed.store, origin);
    session.logger.info({ storeCode: handed.store.code }, "session handed over from another node");
    return session;
  }

  /**
   * A session created on another node counts against its creator's cap here,
   * where it lives: the creating node let its slot go at the handover, so
   * otherwise one address could hold any number of conversations across nodes.
   */
  #holdClientSlot(clientIp: string | undefined): SessionOrigin | undefined | "refused" {
    if (clientIp === undefined) return undefined;
    const release = this.#ctx.openSessions.acquire(clientIp);
    return release ? { clientIp, release } : "refused";
  }

  /**
   * A conversation taken up after its node restarted counts against the cap
   * of the client that takes it up, as one created here would: the records
   * keep no address to count it against, and the restart released every slot.
   */
  #resume(sessionId: string): Promise<Session | undefined> {
    return this.#ctx.resume(sessionId, () => {
      const origin = this.#holdClientSlot(this.#clientIp);
      if (origin === "refused") throw this.#tooManyOpenSessions();
      return origin;
    });
  }

  #tooManyOpenSessions(): ParleyError {
    return new ParleyError(ErrorCode.RATE_LIMITED, `at most ${this.#ctx.openSessions.max} open sessions per client`, {
      retryable: true,
    });
  }

  #errorResult(error: unknown, logger = this.#logger): Result {
    const e = toParleyError(error);
    wsErrorsTotal.inc({ code: e.label });
    // Messages may quote what the client sent (an id, a kind): never echo more than a line.
    const message = clip(e.message);
    if (e.code === ErrorCode.INTERNAL) logger.error({ err: error }, "request failed");
    else this.#warn({ code: e.label, reason: message }, "request rejected", logger);
    return errorReply(e, message);
  }

  /** A warning about what the client sent, within the node's budget for such lines. */
  #warn(fields: Record<string, unknown>, message: string, logger = this.#logger): void {
    const admitted = this.#ctx.logThrottle.admit();
    if (!admitted.ok) return;
    logger.warn(admitted.suppressed ? { ...fields, suppressedBefore: admitted.suppressed } : fields, message);
  }

  #reply(requestId: number, result: Result): void {
    if (this.#closed) return;
    this.#port.send(this.#encodeReply(requestId, result));
  }

  /**
   * The reply's bytes. One that cannot be encoded (a value out of its field's
   * range) is answered INTERNAL instead: a throw here would escape uWS's
   * message callback and end the process.
   */
  #encodeReply(requestId: number, result: Result): Uint8Array {
    try {
      return encodeResponse(requestId, result);
    } catch (err) {
      wsErrorsTotal.inc({ code: "INTERNAL" });
      this.#logger.error({ err, requestId, result: result.case }, "reply could not be encoded");
      return encodeResponse(requestId, errorReply(new ParleyError(ErrorCode.INTERNAL, "internal error")));
    }
  }
}

/** A request of a socket whose session ended, or went on with a newer connection. */
const superseded = () =>
  new ParleyError(ErrorCode.NOT_FOUND, "this session has ended or was taken over by another connection");

function encodeResponse(requestId: number, result: Result): Uint8Array {
  return toBinary(
    ServerMessageSchema,
    create(ServerMessageSchema, { kind: { case: "response", value: { requestId, result } } }),
  );
}

/** An error as the client receives it. */
function errorReply(e: ParleyError, message = e.message): Result {
  return {
    case: "error",
    value: {
      $typeName: "parley.ws.v1.Error",
      code: e.code,
      message,
      retryable: e.retryable,
      retryAfterMs: asUint32(e.retryAfterMs),
      redirectUrl: e.redirectUrl,
    },
  };
}

/**
 * A retry hint as the uint32 milliseconds of the wire, rounded up: a wait
 * that never ends (a bucket that does not refill) is the longest there is.
 */
function asUint32(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return Math.min(UINT32_MAX, Math.ceil(ms));
}
