// The binary protobuf protocol of one customer WebSocket: join with a token,
// mediasoup signalling, then live events on the session's topic. Every
// request gets a Response with its request_id; every failure a typed Error.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  type AsrWorkerPool,
  type RetryPolicy,
  type Scoring,
  type SpeechSynthesizer,
  VoiceConversation,
} from "@parley/inference-bridge";
import { CustomerMedia, type MediaWorkerPool } from "@parley/media";
import { ErrorCode, ParleyError, toParleyError } from "@parley/proto/errors";
import { EndReason, LiveEventSchema, StreamState } from "@parley/proto/live";
import {
  dtlsFromProto,
  dtlsToProto,
  iceCandidateToProto,
  iceParametersToProto,
  type MsIceCandidate,
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
import type { Config } from "./config.ts";
import { activeSessions, feedbackSessionsTotal, wsErrorsTotal, wsMessagesTotal } from "./metrics.ts";
import type { Session } from "./Session.ts";
import { sessionTopic } from "./Session.ts";
import type { SessionRegistry } from "./SessionRegistry.ts";
import { verifyToken } from "./token.ts";

type Result = Response["result"];

export interface SocketContext {
  config: Config;
  sessions: SessionRegistry;
  mediaPool: MediaWorkerPool;
  asrPool: AsrWorkerPool;
  scoring: Scoring;
  tts: SpeechSynthesizer;
  logger: Logger;
  asrRetry?: RetryPolicy;
}

/** What the socket layer must provide: raw send, subscribe, close. */
export interface SocketPort {
  send(bytes: Uint8Array): void;
  subscribe(topic: string): void;
  close(code: number, reason: string): void;
}

export class CustomerSocket {
  readonly #ctx: SocketContext;
  readonly #port: SocketPort;
  #session: Session | undefined;
  #generation = 0;
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
      if (data.byteLength > this.#ctx.config.maxWsMessageBytes)
        throw new ParleyError(
          ErrorCode.TOO_LARGE,
          `frame of ${data.byteLength} bytes exceeds ${this.#ctx.config.maxWsMessageBytes}`,
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
    const session = this.#session;
    if (!session || session.socketGeneration !== this.#generation) return;
    this.#logger.info({ code }, "customer socket closed");
    void this.#ctx.sessions.end(session, EndReason.DISCONNECTED, true);
  }

  async #handle(message: ClientMessage): Promise<Result> {
    const kind = message.kind;
    if (kind.case === undefined) throw new ParleyError(ErrorCode.UNKNOWN_MESSAGE, "unknown or empty message");
    if (kind.case === "join") return this.#join(kind.value.token);
    const session = this.#session;
    if (!session) throw new ParleyError(ErrorCode.OUT_OF_ORDER, `join before ${kind.case}`);
    if (session.ended || session.socketGeneration !== this.#generation)
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
            iceCandidates: transport.iceCandidates.map((c) => iceCandidateToProto(c as MsIceCandidate)),
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
    const claims = verifyToken(this.#ctx.config.jwtSecret, token);
    const session = this.#ctx.sessions.get(claims.sid);
    if (!session || session.ended) throw new ParleyError(ErrorCode.NOT_FOUND, "unknown session");
    this.#session = session;
    this.#generation = ++session.socketGeneration; // a newer connection takes the session over
    this.#logger = session.logger;
    if (!session.media) this.#startMedia(session);
    this.#port.subscribe(sessionTopic(session.id));
    session.logger.info({ generation: this.#generation }, "customer joined");
    return { case: "joined", value: { $typeName: "parley.ws.v1.Joined", sessionId: session.id } };
  }

  #startMedia(session: Session): void {
    const { config, mediaPool, asrPool, scoring, tts } = this.#ctx;
    const lease = mediaPool.acquireRouter();
    if (!lease) throw new ParleyError(ErrorCode.UNAVAILABLE, "no media worker available", { retryable: true });
    let media: CustomerMedia | undefined;
    const conversation = new VoiceConversation({
      sessionId: session.id,
      pool: asrPool,
      logger: session.logger,
      language: config.asr.language,
      sendChunkMs: config.asr.chunkMs,
      finishTimeoutMs: config.asr.finishTimeoutMs,
      ...(this.#ctx.asrRetry ? { retry: this.#ctx.asrRetry } : {}),
      publish: session.publishEvent,
      dialogue: {
        scoring: scoring.engine,
        planner: scoring.planner,
        tts,
        voice: () => {
          if (!media) throw new ParleyError(ErrorCode.NOT_FOUND, "session media is closed");
          return media.aiVoice();
        },
        config: {
          turnSilenceMs: config.dialogue.turnSilenceMs,
          maxTurns: config.dialogue.maxTurns,
          endSilenceMs: config.dialogue.endSilenceMs,
          partialScoreIntervalMs: config.scoring.partialIntervalMs,
        },
        currency: "SEK",
      },
    });
    media = new CustomerMedia({
      router: lease.router,
      listenIp: config.media.listenIp,
      ...(config.media.announcedAddress ? { announcedAddress: config.media.announcedAddress } : {}),
      logger: session.logger,
      reorderWindowMs: config.media.reorderWindowMs,
      onPcm: conversation.pushPcm,
    });
    media.once("close", (reason) => {
      if (reason === "media worker lost") {
        feedbackSessionsTotal.inc({ business_id: session.storeCode, status: "failed", quality_tier: "unknown" });
        this.#sendStatusAndClose(session, reason);
      }
    });
    session.conversation = conversation;
    session.attachMedia(media, lease.release);
    activeSessions.inc();
    feedbackSessionsTotal.inc({ business_id: session.storeCode, status: "started", quality_tier: "unknown" });
  }

  /** The media worker died under the session: say so, then end it. */
  #sendStatusAndClose(session: Session, reason: string): void {
    session.logger.error({ reason }, "session lost its media");
    session.publishEvent(
      create(LiveEventSchema, {
        kind: { case: "status", value: { sessionId: session.id, state: StreamState.FAILED, detail: reason } },
      }),
    );
    void this.#ctx.sessions.end(session, EndReason.MEDIA_LOST, true).then(() => {
      if (!this.#closed) this.#port.close(4001, reason);
    });
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
