// The binary protobuf protocol of one customer WebSocket: join with a token,
// mediasoup signalling, then live events on the session's topic. Every
// request gets a Response with its request_id; every failure a typed Error.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
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
import { verifyToken } from "../auth/token.ts";
import type { LiveBus, Unsubscribe } from "../live/LiveBus.ts";
import { liveTopic } from "../live/LiveBus.ts";
import { wsErrorsTotal, wsMessagesTotal } from "../metrics.ts";
import type { Session, SessionOwner } from "../session/Session.ts";
import type { SessionRegistry } from "../session/SessionRegistry.ts";

type Result = Response["result"];

export interface SocketContext {
  sessions: SessionRegistry;
  bus: LiveBus;
  jwtSecret: string;
  maxMessageBytes: number;
  /** Builds the session's conversation on its first join. */
  startConversation: (session: Session) => void;
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
} as const;

export class CustomerSocket implements SessionOwner {
  readonly #ctx: SocketContext;
  readonly #port: SocketPort;
  #session: Session | undefined;
  #unsubscribe: Unsubscribe | undefined;
  #logger: Logger;
  #closed = false;
  /** Requests are handled one at a time, in order: signalling is stateful. */
  #queue: Promise<void> = Promise.resolve();

  constructor(ctx: SocketContext, port: SocketPort) {
    this.#ctx = ctx;
    this.#port = port;
    this.#logger = ctx.logger;
  }

  onMessage(data: ArrayBuffer, isBinary: boolean): void {
    if (this.#closed) return;
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
    this.#queue = this.#queue.then(async () => {
      if (this.#closed) return;
      let result: Result;
      try {
        result = await this.#handle(message);
      } catch (error) {
        result = this.#errorResult(error);
      }
      this.#reply(message.requestId, result);
    });
  }

  /** The browser went away: tear the session's media down (its transcript is flushed). */
  onClose(code: number): void {
    this.#closed = true;
    this.#stopListening();
    const session = this.#session;
    if (!session?.release(this)) return;
    this.#logger.info({ code }, "customer socket closed");
    void this.#ctx.sessions.end(session, EndReason.DISCONNECTED, true);
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
    }
    // Other ends: the customer received ConversationEnded; it keeps listening
    // for the reward decision that follows, and hangs up itself.
  }

  #stopListening(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  async #handle(message: ClientMessage): Promise<Result> {
    const kind = message.kind;
    if (kind.case === undefined) throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown or empty message");
    if (kind.case === "join") return this.#join(kind.value.token);
    const session = this.#session;
    if (!session) throw new ParleyError(ErrorCode.OUT_OF_ORDER, `join before ${kind.case}`);
    if (session.ended || !session.isOwner(this))
      throw new ParleyError(ErrorCode.NOT_FOUND, "this session has ended or was taken over by another connection");
    const media = session.media!;
    switch (kind.case) {
      case "getRouterRtpCapabilities":
        return { case: "routerRtpCapabilities", value: rtpCapabilitiesToProto(media.rtpCapabilities) };
      case "createTransport": {
        const direction = kind.value.direction;
        if (direction !== TransportDirection.SEND && direction !== TransportDirection.RECV)
          throw new ParleyError(ErrorCode.INVALID_ARGUMENT, "transport direction must be SEND or RECV");
        const transport = await media.createTransport(direction === TransportDirection.SEND ? "send" : "recv");
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
        await media.connectTransport(kind.value.transportId, dtlsFromProto(kind.value.dtlsParameters));
        return { case: "transportConnected", value: { $typeName: "parley.ws.v1.TransportConnected" } };
      case "produce": {
        const producer = await media.produce(
          kind.value.transportId,
          kind.value.kind,
          rtpParametersFromProto(kind.value.rtpParameters),
        );
        session.logger.info({ producerId: producer.id }, "microphone producing");
        return { case: "produced", value: { $typeName: "parley.ws.v1.Produced", producerId: producer.id } };
      }
      case "consumeAiVoice": {
        const consumer = await media.consumeAiVoice(
          kind.value.transportId,
          rtpCapabilitiesFromProto(kind.value.rtpCapabilities),
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
      case "resumeConsumer":
        await media.resumeConsumer(kind.value.consumerId);
        return { case: "consumerResumed", value: { $typeName: "parley.ws.v1.ConsumerResumed" } };
      case "endSession":
        await this.#ctx.sessions.end(session, EndReason.CUSTOMER, true);
        return { case: "sessionEnded", value: { $typeName: "parley.ws.v1.SessionEnded" } };
      default:
        throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown message");
    }
  }

  async #join(token: string): Promise<Result> {
    if (this.#session) throw new ParleyError(ErrorCode.OUT_OF_ORDER, "already joined");
    const claims = verifyToken(this.#ctx.jwtSecret, token);
    const session = this.#ctx.sessions.get(claims.sid);
    if (!session || session.ended) throw new ParleyError(ErrorCode.NOT_FOUND, "unknown session");
    if (!session.started) this.#ctx.startConversation(session);
    this.#session = session;
    this.#logger = session.logger;
    // Listen before taking over, so that no event falls between the two sockets.
    this.#unsubscribe = this.#ctx.bus.subscribe(liveTopic.session(session.id), (message) => {
      if (!this.#closed) this.#port.send(message.serverFrame());
    });
    session.attach(this);
    session.logger.info("customer joined");
    return { case: "joined", value: { $typeName: "parley.ws.v1.Joined", sessionId: session.id } };
  }

  #errorResult(error: unknown): Result {
    const e = toParleyError(error);
    wsErrorsTotal.inc({ code: e.label });
    if (e.code === ErrorCode.INTERNAL) this.#logger.error({ err: error }, "request failed");
    else this.#logger.warn({ code: e.label, reason: e.message }, "request rejected");
    return {
      case: "error",
      value: { $typeName: "parley.ws.v1.Error", code: e.code, message: e.message, retryable: e.retryable },
    };
  }

  #reply(requestId: number, result: Result): void {
    if (this.#closed) return;
    const bytes = toBinary(
      ServerMessageSchema,
      create(ServerMessageSchema, { kind: { case: "response", value: { requestId, result } } }),
    );
    this.#port.send(bytes);
  }
}
