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
import { EndReason, LiveEventSchema, StreamState } from "@parley/proto/live";
import pino, { type Logger } from "pino";
import { type DashboardTokenVerifier, SignedUserTokens } from "./auth/userToken.ts";
import { type Config, describeConfig } from "./config.ts";
import { DASHBOARD_PATH, mountDashboardRoutes } from "./http/dashboardRoutes.ts";
import { mountHealthRoutes } from "./http/healthRoutes.ts";
import { mountSessionRoutes } from "./http/sessionRoutes.ts";
import { mountStaticRoutes } from "./http/staticRoutes.ts";
import type { LiveBus } from "./live/LiveBus.ts";
import { LocalLiveBus } from "./live/LocalLiveBus.ts";
import { RedisLiveBus } from "./live/RedisLiveBus.ts";
import { observeSessionMetrics } from "./live/sessionMetrics.ts";
import { collectProcessMetrics } from "./metrics.ts";
import type { Session } from "./session/Session.ts";
import { SessionRegistry } from "./session/SessionRegistry.ts";
import { type ConversationParts, startConversation } from "./session/startConversation.ts";
import { ConfiguredStoreDirectory, type StoreDirectory } from "./stores/StoreDirectory.ts";
import { loadUws, type TemplatedApp, type Uws, type us_listen_socket } from "./uws.ts";
import { type AlertRecipients, ConfiguredAlertRecipients } from "./wall/alerts/AlertMailer.ts";
import { SendGridMailer } from "./wall/alerts/SendGridMailer.ts";
import { MemoryWallHistory } from "./wall/history/MemoryWallHistory.ts";
import type { WallHistory } from "./wall/history/WallHistory.ts";
import { MemoryModerationStore, type ModerationStore } from "./wall/moderation/ModerationStore.ts";
import { Wall } from "./wall/Wall.ts";
import { mountWallWs } from "./wall/wallWs.ts";
import { mountCustomerWs } from "./ws/customerWs.ts";

/**
 * What the dashboards need from durable records. Absent parts get the
 * embedded ones: tokens signed with JWT_SECRET, history and moderation in
 * memory for the node's lifetime, ALERT_EMAIL_TO as every business's
 * recipients. The records package provides all four once bound.
 */
export interface WallBindings {
  verifier?: DashboardTokenVerifier;
  history?: WallHistory;
  moderationStore?: ModerationStore;
  alertRecipients?: AlertRecipients;
}

export interface ParleyServerOptions {
  config: Config;
  logger?: Logger;
  asrRetry?: RetryPolicy;
  wall?: WallBindings;
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
  readonly stores: StoreDirectory;
  readonly sessions: SessionRegistry;
  readonly wall: Wall;
  readonly dashboardTokens: SignedUserTokens;
  readonly #uws: Uws;
  readonly #app: TemplatedApp;
  readonly #stopMetrics: () => void;
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
    const server = new ParleyServer(options, logger, mediaPool, asrPool, embeddedAsr);
    await server.#listen();
    return server;
  }

  private constructor(
    options: ParleyServerOptions,
    logger: Logger,
    mediaPool: MediaWorkerPool,
    asrPool: AsrWorkerPool,
    embeddedAsr: AsrWorkerProcess | undefined,
  ) {
    const config = options.config;
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
    this.#stopMetrics = observeSessionMetrics(this.bus, config.nodeId);
    this.stores = new ConfiguredStoreDirectory({
      codes: config.stores.codes,
      businessId: config.stores.businessId,
      businessOf: config.stores.businessOf,
      language: config.asr.language,
      currency: config.stores.currency,
    });
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
    this.dashboardTokens = new SignedUserTokens(config.jwtSecret);
    this.wall = this.#createWall(options.wall ?? {});
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
    this.wall.close();
    this.#stopMetrics();
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
    };
    mountHealthRoutes(this.#app, {
      mediaPool: this.mediaPool,
      asrPool: this.asrPool,
      scoring: this.scoring,
      metricsEnabled: config.metricsEnabled,
    });
    mountSessionRoutes(this.#app, {
      sessions: this.sessions,
      stores: this.stores,
      jwtSecret: config.jwtSecret,
      tokenTtlMs: config.tokenTtlMs,
    });
    mountCustomerWs(this.#app, {
      sessions: this.sessions,
      bus: this.bus,
      jwtSecret: config.jwtSecret,
      maxMessageBytes: config.maxWsMessageBytes,
      startConversation: (session) => startConversation(parts, session),
      logger,
    });
    mountWallWs(this.#app, this.wall, {
      maxMessageBytes: config.maxWsMessageBytes,
      // uWS's own limit only catches what the hub's policy somehow did not.
      hardLimitBytes: 8 * config.wall.slowClient.closeBytes,
    });
    mountDashboardRoutes(this.#app, config.wall.distDir, logger);
    // Last: uWS matches "/*" only when no other route does.
    mountStaticRoutes(this.#app, config.clientDistDir, logger);
  }

  #createWall(bindings: WallBindings): Wall {
    const { config, logger } = this;
    const email = config.wall.alerts.email;
    return new Wall({
      nodeId: config.nodeId,
      bus: this.bus,
      publish: (topic, frame) => this.#app.publish(topic, frame, true),
      logger: logger.child({ component: "wall" }),
      verifier: bindings.verifier ?? this.dashboardTokens,
      stores: this.stores,
      history: bindings.history ?? new MemoryWallHistory({ bus: this.bus }),
      moderationStore: bindings.moderationStore ?? new MemoryModerationStore(),
      limits: config.wall.slowClient,
      flushIntervalMs: config.wall.flushIntervalMs,
      alerts: {
        lowScore: config.wall.alerts.lowScore,
        negativeSentiment: config.wall.alerts.negativeSentiment,
        ...(email
          ? {
              email: {
                mailer: new SendGridMailer({ apiKey: email.apiKey, apiUrl: email.apiUrl, from: email.from }),
                recipients: bindings.alertRecipients ?? new ConfiguredAlertRecipients(email.to),
              },
            }
          : {}),
      },
      maxMessageBytes: config.maxWsMessageBytes,
      node: {
        sessions: this.sessions,
        mediaPool: this.mediaPool,
        asrPool: this.asrPool,
        scoring: this.scoring,
        llmLimits: { maxConcurrent: config.scoring.maxConcurrent, maxWaiting: config.scoring.maxQueue },
      },
    });
  }

  /**
   * Development only (WALL_DEV_LOGIN, off in production): sign-in links for
   * the wall of each configured business and for the admin monitor, until
   * the records package's login is wired. Tokens last a day.
   */
  #logDevLogins(): void {
    const { config, logger } = this;
    if (!config.wall.devLogin) return;
    const base = `${this.url.replace("127.0.0.1", "localhost")}${DASHBOARD_PATH}`;
    const businesses = new Set([config.stores.businessId, ...Object.values(config.stores.businessOf)]);
    const day = 24 * 3_600_000;
    for (const businessId of businesses) {
      const token = this.dashboardTokens.issue({ userId: `dev-owner-${businessId}`, role: "owner", businessId }, day);
      logger.info({ businessId, url: `${base}/#token=${token}` }, "dev sign-in: business wall");
    }
    const admin = this.dashboardTokens.issue({ userId: "dev-admin", role: "admin" }, day);
    logger.info({ url: `${base}/monitor#token=${admin}` }, "dev sign-in: admin monitor");
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
        this.#logDevLogins();
        resolve();
      });
    });
  }
}
