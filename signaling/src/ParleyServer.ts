// The node's composition root: media plane, inference bridge, live-event bus,
// sessions and the uWS edge (HTTP routes and the customer WebSocket), all in
// one process. Each part is built here and handed what it needs; none of
// them is wired inside another's handler.

import { create } from "@bufbuild/protobuf";
import {
  AsrWorkerPool,
  AsrWorkerProcess,
  createScoring,
  FliteTts,
  type RetryPolicy,
  type Scoring,
  type SpeechSynthesizer,
} from "@parley/inference-bridge";
import { MediaWorkerPool, opusBackend } from "@parley/media";
import { EndReason, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema, StreamState } from "@parley/proto/live";
import { type PublishTarget, Records } from "@parley/records";
import pino, { type Logger } from "pino";
import { type Config, describeConfig } from "./config.ts";
import { mountHealthRoutes } from "./http/healthRoutes.ts";
import { mountRecordsRoutes } from "./http/recordsRoutes.ts";
import { mountSessionRoutes } from "./http/sessionRoutes.ts";
import { mountStaticRoutes } from "./http/staticRoutes.ts";
import { type LiveBus, liveTopic } from "./live/LiveBus.ts";
import { LocalLiveBus } from "./live/LocalLiveBus.ts";
import { RedisLiveBus } from "./live/RedisLiveBus.ts";
import { observeSessionMetrics } from "./live/sessionMetrics.ts";
import { collectProcessMetrics, feedbackSessionsTotal } from "./metrics.ts";
import type { Session } from "./session/Session.ts";
import { SessionRegistry } from "./session/SessionRegistry.ts";
import { type ConversationParts, startConversation } from "./session/startConversation.ts";
import { loadUws, type TemplatedApp, type Uws, type us_listen_socket } from "./uws.ts";
import { mountCustomerWs } from "./ws/customerWs.ts";

export interface ParleyServerOptions {
  config: Config;
  logger?: Logger;
  asrRetry?: RetryPolicy;
}

export class ParleyServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly mediaPool: MediaWorkerPool;
  readonly asrPool: AsrWorkerPool;
  readonly embeddedAsr: AsrWorkerProcess | undefined;
  readonly scoring: Scoring;
  readonly tts: SpeechSynthesizer;
  readonly bus: LiveBus;
  readonly records: Records;
  readonly sessions: SessionRegistry;
  readonly #uws: Uws;
  readonly #app: TemplatedApp;
  readonly #unsubscribe: (() => void)[] = [];
  #listenSocket: us_listen_socket | false = false;
  #port = 0;
  #closing = false;

  static async create(options: ParleyServerOptions): Promise<ParleyServer> {
    const { config } = options;
    const logger = options.logger ?? pino({ level: config.logLevel, base: { service: "parley", node: config.nodeId } });
    logger.info({ config: describeConfig(config), opus: opusBackend() }, "starting");
    if (opusBackend() !== "native") logger.warn("Opus native build not loaded: decoding runs on WebAssembly (slower)");
    const mediaPool = await MediaWorkerPool.create({
      workers: config.media.workers,
      rtcMinPort: config.media.rtcMinPort,
      rtcMaxPort: config.media.rtcMaxPort,
      ...(config.media.workerBin ? { workerBin: config.media.workerBin } : {}),
      logger: logger.child({ component: "media" }),
    });
    let embeddedAsr: AsrWorkerProcess | undefined;
    let addresses = config.asr.workers;
    if (addresses.length === 0) {
      embeddedAsr = await AsrWorkerProcess.start({
        logger: logger.child({ component: "asr-worker" }),
        maxStreams: config.asr.embeddedMaxStreams,
        workerId: "embedded",
        restart: true,
      });
      addresses = [embeddedAsr.address];
    }
    const asrPool = new AsrWorkerPool({ addresses, logger: logger.child({ component: "asr-pool" }) });
    // The reward is decided after the conversation's end is stored; it goes
    // out through the session (late-bound: the server does not exist yet).
    let publishLate: (target: PublishTarget, event: LiveEvent) => void = () => {};
    const records = await ParleyServer.#openRecords(config, logger, (target, event) => publishLate(target, event));
    const server = new ParleyServer(options, logger, mediaPool, asrPool, embeddedAsr, records);
    publishLate = (target, event) => server.#publishLate(target, event);
    await server.#listen();
    return server;
  }

  private constructor(
    options: ParleyServerOptions,
    logger: Logger,
    mediaPool: MediaWorkerPool,
    asrPool: AsrWorkerPool,
    embeddedAsr: AsrWorkerProcess | undefined,
    records: Records,
  ) {
    const config = options.config;
    this.records = records;
    this.config = config;
    this.logger = logger;
    this.mediaPool = mediaPool;
    this.asrPool = asrPool;
    this.embeddedAsr = embeddedAsr;
    const { scoring, dialogue } = config;
    this.scoring = createScoring({
      ollamaHost: scoring.ollamaHost,
      model: scoring.model,
      timeoutMs: scoring.timeoutMs,
      budgetMs: scoring.budgetMs,
      maxConcurrent: scoring.maxConcurrent,
      maxWaiting: scoring.maxQueue,
      partialIntervalMs: scoring.partialIntervalMs,
      logger,
    });
    this.tts = new FliteTts(dialogue.ttsVoice);
    const busLogger = logger.child({ component: "live-bus" });
    this.bus = config.redis
      ? new RedisLiveBus({
          url: config.redis.url,
          password: config.redis.password,
          nodeId: config.nodeId,
          logger: busLogger,
        })
      : new LocalLiveBus(busLogger);
    this.#unsubscribe.push(
      observeSessionMetrics(this.bus, config.nodeId),
      // Records keeps this node's conversations (each node writes its own).
      this.bus.subscribe(liveTopic.admin, ({ envelope }) => {
        if (envelope.nodeId === config.nodeId) records.write(envelope);
      }),
    );
    this.sessions = new SessionRegistry({
      logger,
      bus: this.bus,
      nodeId: config.nodeId,
      unjoinedTtlMs: config.tokenTtlMs,
    });
    this.#uws = loadUws(config.allowUwsFallback);
    const tls = config.tls;
    this.#app = tls ? this.#uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : this.#uws.App();
    if (config.metricsEnabled) collectProcessMetrics();
    this.#mount(options.asrRetry);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `${this.config.tls ? "https" : "http"}://127.0.0.1:${this.#port}`;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#listenSocket) this.#uws.us_listen_socket_close(this.#listenSocket);
    this.#listenSocket = false;
    await this.sessions.closeAll(EndReason.SHUTDOWN);
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    await this.records.close();
    this.bus.close();
    this.mediaPool.close();
    this.asrPool.close();
    await this.embeddedAsr?.stop();
    this.logger.info("stopped");
  }

  #mount(asrRetry: RetryPolicy | undefined): void {
    const { config, logger } = this;
    const parts: ConversationParts = {
      config,
      mediaPool: this.mediaPool,
      asrPool: this.asrPool,
      scoring: this.scoring,
      tts: this.tts,
      ...(asrRetry ? { asrRetry } : {}),
      onMediaLost: (session) => this.#onMediaLost(session),
      audioTap: (sessionId) => this.records.audioTap(sessionId),
    };
    mountHealthRoutes(this.#app, {
      mediaPool: this.mediaPool,
      asrPool: this.asrPool,
      scoring: this.scoring,
      metricsEnabled: config.metricsEnabled,
    });
    mountSessionRoutes(this.#app, {
      sessions: this.sessions,
      records: this.records,
      jwtSecret: config.jwtSecret,
      tokenTtlMs: config.tokenTtlMs,
    });
    mountRecordsRoutes(this.#app, this.records.routes);
    mountCustomerWs(this.#app, {
      sessions: this.sessions,
      bus: this.bus,
      jwtSecret: config.jwtSecret,
      maxMessageBytes: config.maxWsMessageBytes,
      startConversation: (session) => startConversation(parts, session),
      logger,
    });
    // Last: uWS matches "/*" only when no other route does.
    mountStaticRoutes(this.#app, config.clientDistDir, logger);
  }

  static #openRecords(
    config: Config,
    logger: Logger,
    publish: (target: PublishTarget, event: LiveEvent) => void,
  ): Promise<Records> {
    const r = config.records;
    const stripeApi = r.stripe?.apiUrl;
    return Records.create({
      databaseUrl: r.databaseUrl,
      dataDir: r.dataDir,
      nodeId: config.nodeId,
      logger,
      authSecret: config.jwtSecret,
      seedDemo: r.seedDemo,
      fraud: { enabled: r.fraudEnabled },
      retention: { dataRetentionDays: r.dataRetentionDays, voiceRetentionHours: r.voiceRetentionHours },
      loginRateLimit: r.loginRateLimit,
      stripe: r.stripe && {
        secretKey: r.stripe.secretKey,
        webhookSecret: r.stripe.webhookSecret,
        returnUrl: r.stripe.returnUrl,
        ...(stripeApi
          ? {
              host: stripeApi.hostname,
              port: Number(stripeApi.port || (stripeApi.protocol === "https:" ? 443 : 80)),
              protocol: stripeApi.protocol === "https:" ? "https" : "http",
            }
          : {}),
      },
      publish,
      countSession: (labels) => feedbackSessionsTotal.inc(labels),
    });
  }

  /**
   * An event about a session that may have ended (its reward): through the
   * session when this node still knows it, so it continues its sequence;
   * else as a fresh envelope (seq 0: other nodes that saw the session drop it).
   */
  #publishLate(target: PublishTarget, event: LiveEvent): void {
    const session = this.sessions.recent(target.sessionId);
    if (session) {
      session.publishEvent(event);
      return;
    }
    this.bus.publish(
      create(LiveEnvelopeSchema, {
        ...target,
        seq: 0n,
        nodeId: this.config.nodeId,
        publishedAtMs: BigInt(Date.now()),
        event,
      }),
    );
  }

  /** The media worker died under the session: say so, then end it (the transcript so far is kept). */
  #onMediaLost(session: Session): void {
    session.logger.error("session lost its media");
    session.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "status",
          value: { sessionId: session.id, state: StreamState.FAILED, detail: "media worker lost" },
        },
      }),
    );
    void this.sessions.end(session, EndReason.MEDIA_LOST, true);
  }

  #listen(): Promise<void> {
    const { config, logger } = this;
    return new Promise<void>((resolve, reject) => {
      this.#app.listen(config.host, config.port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${config.host}:${config.port}`));
        this.#listenSocket = socket;
        this.#port = this.#uws.us_socket_local_port(socket);
        logger.info({ port: this.#port }, "listening");
        resolve();
      });
    });
  }
}
