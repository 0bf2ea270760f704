// The node's composition root: media plane, inference bridge, live-event bus,
// sessions and the uWS edge (HTTP routes and the customer WebSocket), all in
// one process. Each part is built here and handed what it needs; none of
// them is wired inside another's handler.
//
// Two listeners: the public one (the app, the API, the WebSocket, /health)
// and an internal one (INTERNAL_HOST:INTERNAL_PORT, loopback by default)
// for /ready and /metrics.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import {
  type AsrChannelOptions,
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
import { ClientIpResolver } from "./edge/ClientIpResolver.ts";
import { LogThrottle } from "./edge/LogThrottle.ts";
import { OriginPolicy } from "./edge/OriginPolicy.ts";
import { PerClientLimit } from "./edge/PerClientLimit.ts";
import { createRateLimiter, type RateLimiter } from "./edge/RateLimiter.ts";
import { HttpEdge } from "./http/HttpEdge.ts";
import { mountInternalRoutes, mountPublicHealthRoutes } from "./http/healthRoutes.ts";
import { ReadinessCheck } from "./http/ReadinessCheck.ts";
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
import { admitSpeech, type ConversationParts, startConversation } from "./session/startConversation.ts";
import { loadUws, type TemplatedApp, type Uws, type us_listen_socket } from "./uws.ts";
import { mountCustomerWs } from "./ws/customerWs.ts";

export interface ParleyServerOptions {
  config: Config;
  logger?: Logger;
  asrRetry?: RetryPolicy;
}

/** The speech workers' channel: TLS files read once, and the shared secret. */
function asrChannel(config: Config, authToken: string | undefined): AsrChannelOptions {
  const tls = config.asr.tls;
  const read = (file: string | undefined) => (file ? readFileSync(file) : undefined);
  return {
    ...(authToken ? { authToken } : {}),
    ...(tls
      ? {
          tls: {
            ...(tls.caFile ? { rootCerts: read(tls.caFile) } : {}),
            ...(tls.certFile ? { certChain: read(tls.certFile), privateKey: read(tls.keyFile) } : {}),
            ...(tls.serverName ? { serverName: tls.serverName } : {}),
          },
        }
      : {}),
  };
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
  /** Request rates of the edge; login (records) makes its own with createRateLimiter. */
  readonly rateLimits: { sessionsPerClient: RateLimiter; sessionsPerStore: RateLimiter };
  /** What one client may hold at once. */
  readonly clientLimits: { sockets: PerClientLimit; sessions: PerClientLimit };
  readonly #uws: Uws;
  readonly #app: TemplatedApp;
  readonly #internalApp: TemplatedApp;
  readonly #edge: HttpEdge;
  readonly #logThrottle = new LogThrottle();
  readonly #unsubscribe: (() => void)[] = [];
  #listenSockets: us_listen_socket[] = [];
  #port = 0;
  #internalPort = 0;
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
    let channel = asrChannel(config, config.asr.authToken);
    if (addresses.length === 0) {
      // Even on loopback, the worker asks for a secret: other local users cannot use it.
      const authToken = config.asr.authToken ?? randomBytes(24).toString("base64url");
      embeddedAsr = await AsrWorkerProcess.start({
        logger: logger.child({ component: "asr-worker" }),
        maxStreams: config.asr.embeddedMaxStreams,
        workerId: "embedded",
        restart: true,
        authToken,
      });
      addresses = [embeddedAsr.address];
      channel = { authToken };
    }
    const asrPool = new AsrWorkerPool({ addresses, logger: logger.child({ component: "asr-pool" }), channel });
    await asrPool.probe(); // capacity is known before the first customer arrives
    // The reward is decided after the conversation's end is stored; it goes
    // out through the session (late-bound: the server does not exist yet).
    let publishLate: (target: PublishTarget, event: LiveEvent) => void = () => {};
    const records = await ParleyServer.#openRecords(config, logger, (target, event) => publishLate(target, event));
    const server = new ParleyServer(options, logger, mediaPool, asrPool, embeddedAsr, records);
    publishLate = (target, event) => server.#publishLate(target, event);
    try {
      await server.#listen();
    } catch (error) {
      await server.close();
      throw error;
    }
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
    this.config = config;
    this.records = records;
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
      maxDurationMs: config.limits.sessionMaxDurationMs,
    });
    const { rateLimit, limits } = config;
    this.rateLimits = {
      sessionsPerClient: createRateLimiter({
        name: "sessions-client",
        windowMs: rateLimit.windowMs,
        max: rateLimit.maxPerIp,
      }),
      sessionsPerStore: createRateLimiter({
        name: "sessions-store",
        windowMs: rateLimit.windowMs,
        max: rateLimit.maxPerStore,
      }),
    };
    this.clientLimits = {
      sockets: new PerClientLimit(limits.socketsPerIp),
      sessions: new PerClientLimit(limits.sessionsPerIp),
    };
    this.#uws = loadUws(config.allowUwsFallback);
    const tls = config.tls;
    this.#app = tls ? this.#uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : this.#uws.App();
    this.#internalApp = this.#uws.App();
    this.#edge = new HttpEdge({
      tls: tls !== undefined,
      origins: new OriginPolicy(config.http.allowedOrigins),
      clientIps: new ClientIpResolver(config.http.trustedProxies),
    });
    if (config.metricsEnabled) collectProcessMetrics();
    this.#mount(options.asrRetry);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `${this.config.tls ? "https" : "http"}://127.0.0.1:${this.#port}`;
  }

  /** The internal listener (/ready, /metrics). */
  get internalUrl(): string {
    const host = this.config.internal.host;
    return `http://${host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host}:${this.#internalPort}`;
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    for (const socket of this.#listenSockets) this.#uws.us_listen_socket_close(socket);
    this.#listenSockets = [];
    await this.sessions.closeAll(EndReason.SHUTDOWN);
    this.rateLimits.sessionsPerClient.close();
    this.rateLimits.sessionsPerStore.close();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    await this.records.close();
    this.bus.close();
    this.mediaPool.close();
    this.asrPool.close();
    this.tts.close?.();
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
    const edge = this.#edge;
    const health = {
      readiness: new ReadinessCheck({ mediaPool: this.mediaPool, asrPool: this.asrPool, scoring: this.scoring }),
      metricsEnabled: config.metricsEnabled,
    };
    mountInternalRoutes(this.#internalApp, edge, health);
    mountPublicHealthRoutes(this.#app, edge, health, config.internal.metricsToken);
    mountSessionRoutes(this.#app, edge, {
      sessions: this.sessions,
      records: this.records,
      jwtSecret: config.jwtSecret,
      tokenTtlMs: config.tokenTtlMs,
      rates: { perClient: this.rateLimits.sessionsPerClient, perStore: this.rateLimits.sessionsPerStore },
      openSessions: this.clientLimits.sessions,
      speechAvailable: () => this.asrPool.hasCapacity(),
    });
    mountCustomerWs(
      this.#app,
      {
        sessions: this.sessions,
        bus: this.bus,
        jwtSecret: config.jwtSecret,
        maxMessageBytes: config.maxWsMessageBytes,
        startConversation: (session) => this.sessions.begin(session, (s) => startConversation(parts, s)),
        admitSpeech: (session) => admitSpeech(parts, session),
        limits: config.limits,
        logThrottle: this.#logThrottle,
        logger,
      },
      { edge, sockets: this.clientLimits.sockets, logThrottle: this.#logThrottle, logger },
    );
    mountRecordsRoutes(this.#app, edge, this.records.routes);
    // Last: uWS matches "/*" only when no other route does.
    mountStaticRoutes(this.#app, edge, config.clientDistDir, logger);
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

  async #listen(): Promise<void> {
    const { config, logger } = this;
    this.#port = await this.#listenOn(this.#app, config.host, config.port);
    logger.info({ port: this.#port }, "listening");
    this.#internalPort = await this.#listenOn(this.#internalApp, config.internal.host, config.internal.port);
    logger.info({ host: config.internal.host, port: this.#internalPort }, "internal listener (/ready, /metrics)");
  }

  #listenOn(app: TemplatedApp, host: string, port: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      app.listen(host, port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${host}:${port}`));
        this.#listenSockets.push(socket);
        resolve(this.#uws.us_socket_local_port(socket));
      });
    });
  }
}
