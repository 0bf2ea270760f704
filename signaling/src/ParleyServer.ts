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
  createSpeechSynthesizer,
  type RetryPolicy,
  type Scoring,
  type SpeechSynthesizer,
} from "@parley/inference-bridge";
import { MediaWorkerPool, opusBackend } from "@parley/media";
import { EndReason, LiveEnvelopeSchema, type LiveEvent, LiveEventSchema, StreamState } from "@parley/proto/live";
import { type CustomerDeletion, type PublishTarget, Records, recordsRateLimits } from "@parley/records";
import type { Redis } from "ioredis";
import pino, { type Logger } from "pino";
import { type DashboardTokenVerifier, SignedUserTokens } from "./auth/userToken.ts";
import { type NodeDirectory, type NodeInfo, RedisNodeDirectory, SingleNodeDirectory } from "./cluster/NodeDirectory.ts";
import { LocalPlacement, RedisPlacement, type SessionPlacement } from "./cluster/SessionPlacement.ts";
import { sharedStateRedis } from "./cluster/sharedStateRedis.ts";
import { type Config, describeConfig } from "./config.ts";
import { ClientIpResolver } from "./edge/ClientIpResolver.ts";
import { LogThrottle } from "./edge/LogThrottle.ts";
import { OriginPolicy } from "./edge/OriginPolicy.ts";
import { PerClientLimit } from "./edge/PerClientLimit.ts";
import { createRateLimiter, type RateLimiter } from "./edge/RateLimiter.ts";
import { mountDashboardRoutes } from "./http/dashboardRoutes.ts";
import { HttpEdge } from "./http/HttpEdge.ts";
import { mountInternalRoutes, mountPublicHealthRoutes } from "./http/healthRoutes.ts";
import { ReadinessCheck } from "./http/ReadinessCheck.ts";
import { mountRecordsRoutes } from "./http/recordsRoutes.ts";
import { mountSessionRoutes } from "./http/sessionRoutes.ts";
import { mountStaticRoutes } from "./http/staticRoutes.ts";
import { mountStoreRoutes } from "./http/storeRoutes.ts";
import { type LiveBus, liveTopic } from "./live/LiveBus.ts";
import { LocalLiveBus } from "./live/LocalLiveBus.ts";
import { RedisLiveBus } from "./live/RedisLiveBus.ts";
import { observeSessionMetrics } from "./live/sessionMetrics.ts";
import {
  collectProcessMetrics,
  feedbackSessionsTotal,
  mediaMoves,
  mediaWorkerDeaths,
  rateLimitRefusals,
} from "./metrics.ts";
import { resumeSession } from "./session/resumeSession.ts";
import type { Session } from "./session/Session.ts";
import { SessionRegistry } from "./session/SessionRegistry.ts";
import { admitSpeech, type ConversationParts, moveMedia, startConversation } from "./session/startConversation.ts";
import { RecordsStoreDirectory, type StoreDirectory } from "./stores/StoreDirectory.ts";
import { loadUws, type TemplatedApp, type Uws, type us_listen_socket } from "./uws.ts";
import { alertEmailRateLimit } from "./wall/alerts/AlertEngine.ts";
import type { AlertRecipients } from "./wall/alerts/AlertMailer.ts";
import type { AlertStore } from "./wall/alerts/AlertStore.ts";
import { BusinessOwnerRecipients } from "./wall/alerts/BusinessOwnerRecipients.ts";
import { RecordsAlertStore } from "./wall/alerts/RecordsAlertStore.ts";
import { RedisAlertEmailClaims } from "./wall/alerts/RedisAlertEmailClaims.ts";
import { SendGridMailer } from "./wall/alerts/SendGridMailer.ts";
import { RecordsWallHistory } from "./wall/history/RecordsWallHistory.ts";
import type { WallHistory } from "./wall/history/WallHistory.ts";
import type { ModerationStore } from "./wall/moderation/ModerationStore.ts";
import { RecordsModerationStore } from "./wall/moderation/RecordsModerationStore.ts";
import { LOST_AFTER_SILENT_MS } from "./wall/orphanedConversations.ts";
import { Wall } from "./wall/Wall.ts";
import { mountWallWs } from "./wall/wallWs.ts";
import { mountCustomerWs } from "./ws/customerWs.ts";

/**
 * What the dashboards read and keep. Absent parts are bound to the records
 * package: its logins' tokens (JWT_SECRET), its history and moderation in
 * Postgres, each business's owners (plus ALERT_EMAIL_TO) as alert recipients,
 * raised alerts kept in Postgres.
 */
export interface WallBindings {
  verifier?: DashboardTokenVerifier;
  history?: WallHistory;
  moderationStore?: ModerationStore;
  alertRecipients?: AlertRecipients;
  alertStore?: AlertStore;
}

export interface ParleyServerOptions {
  config: Config;
  logger?: Logger;
  asrRetry?: RetryPolicy;
  wall?: WallBindings;
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
  /** The nodes of the cluster (this one alone without Redis) and where new sessions go. */
  readonly nodes: NodeDirectory;
  readonly placement: SessionPlacement;
  /** Shared state with the other nodes (REDIS_URL): nodes, hand-overs, rate limits. */
  readonly #redis: Redis | undefined;
  #draining = false;
  /** Request rates of the edge; login (records) makes its own with createRateLimiter. */
  readonly rateLimits: { sessionsPerClient: RateLimiter; sessionsPerStore: RateLimiter; storeLookups: RateLimiter };
  /** What one client may hold at once (dashboards' sockets counted apart from customers'). */
  readonly clientLimits: { sockets: PerClientLimit; sessions: PerClientLimit; dashboardSockets: PerClientLimit };
  readonly wall: Wall;
  readonly dashboardTokens: SignedUserTokens;
  readonly stores: StoreDirectory;
  readonly #uws: Uws;
  readonly #app: TemplatedApp;
  readonly #internalApp: TemplatedApp;
  readonly #edge: HttpEdge;
  readonly #logThrottle = new LogThrottle();
  /** How often each live session's media was moved (a worker died, or one of the customer's transports failed). */
  readonly #mediaMoves = new WeakMap<Session, number>();
  readonly #unsubscribe: (() => void)[] = [];
  #listenSockets: us_listen_socket[] = [];
  #port = 0;
  #internalPort = 0;
  #closing = false;
  #closed: Promise<void> | undefined;

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
    const asrPool = new AsrWorkerPool({
      addresses,
      logger: logger.child({ component: "asr-pool" }),
      channel,
      downForMs: config.asr.workerDownMs,
      maxDownForMs: config.asr.workerMaxDownMs,
      maxLagMs: config.asr.workerMaxLagMs,
    });
    await asrPool.probe(); // capacity is known before the first customer arrives
    // The reward is decided after the conversation's end is stored; it goes
    // out through the session (late-bound: the server does not exist yet).
    let publishLate: (target: PublishTarget, event: LiveEvent) => void = () => {};
    let forgetDeletedLate: (deleted: CustomerDeletion) => void = () => {};
    const records = await ParleyServer.#openRecords(
      config,
      logger,
      (target, event) => publishLate(target, event),
      (deleted) => forgetDeletedLate(deleted),
    );
    const redis = config.redis ? await ParleyServer.#connectRedis(config, logger) : undefined;
    const server = new ParleyServer(options, logger, mediaPool, asrPool, embeddedAsr, records, redis);
    publishLate = (target, event) => server.#publishLate(target, event);
    forgetDeletedLate = (deleted) => server.wall.customerDeleted(deleted);
    try {
      await server.#listen();
      await server.nodes.start();
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
    redis: Redis | undefined,
  ) {
    const config = options.config;
    this.config = config;
    this.records = records;
    this.logger = logger;
    this.mediaPool = mediaPool;
    mediaPool.on("workerdied", (_pid, _error, cause) => mediaWorkerDeaths.inc({ cause }));
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
    // flite speaks English, espeak-ng the other languages of the stores.
    this.tts = createSpeechSynthesizer({
      voice: dialogue.ttsVoice,
      cacheSeconds: dialogue.ttsCacheSeconds,
      ttsServiceUrl: dialogue.ttsServiceUrl,
      logger: logger.child({ component: "tts" }),
    });
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
    this.#redis = redis;
    this.stores = new RecordsStoreDirectory(records);
    this.sessions = new SessionRegistry({
      logger,
      bus: this.bus,
      nodeId: config.nodeId,
      // The app joins right after it creates a session: one nobody joined within a minute is
      // abandoned, and must not hold the node's capacity for the token's whole life.
      unjoinedTtlMs: Math.min(config.tokenTtlMs, UNJOINED_SESSION_TTL_MS),
      maxDurationMs: config.limits.sessionMaxDurationMs,
      maxSessions: config.node.maxSessions,
    });
    const self = (): Omit<NodeInfo, "updatedAtMs"> => ({
      nodeId: config.nodeId,
      // Without NODE_PUBLIC_URL only a node on loopback knows where its customers reach it.
      publicUrl: config.nodePublicUrl ?? (isLoopbackHost(config.host) ? this.url : null),
      liveSessions: this.sessions.size,
      maxSessions: config.node.maxSessions,
      draining: this.#draining,
      // Other nodes place conversations here only in these (absent: any).
      languages: this.asrPool.servedLanguages(),
    });
    if (this.#redis) {
      this.nodes = new RedisNodeDirectory({ redis: this.#redis, self, logger: logger.child({ component: "nodes" }) });
      this.placement = new RedisPlacement({ directory: this.nodes, redis: this.#redis, selfId: config.nodeId });
    } else {
      this.nodes = new SingleNodeDirectory(() => ({ ...self(), updatedAtMs: Date.now() }));
      this.placement = new LocalPlacement(this.nodes, config.nodeId);
    }
    const { rateLimit, limits } = config;
    const shared = this.#redis ? { redis: this.#redis, logger: logger.child({ component: "rate-limit" }) } : undefined;
    this.rateLimits = {
      sessionsPerClient: createRateLimiter(
        { name: "sessions-client", windowMs: rateLimit.windowMs, max: rateLimit.maxPerIp },
        shared,
      ),
      sessionsPerStore: createRateLimiter(
        { name: "sessions-store", windowMs: rateLimit.windowMs, max: rateLimit.maxPerStore },
        shared,
      ),
      // The app's look-up of its store on every page load (GET /api/stores/:code), per client.
      storeLookups: createRateLimiter(
        { name: "stores-client", windowMs: rateLimit.windowMs, max: rateLimit.maxPerIp },
        shared,
      ),
    };
    this.clientLimits = {
      sockets: new PerClientLimit(limits.socketsPerIp),
      sessions: new PerClientLimit(limits.sessionsPerIp),
      dashboardSockets: new PerClientLimit(limits.socketsPerIp),
    };
    this.#uws = loadUws(config.allowUwsFallback);
    const tls = config.tls;
    this.#app = tls ? this.#uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : this.#uws.App();
    this.#internalApp = this.#uws.App();
    this.#edge = new HttpEdge({
      tls: tls !== undefined,
      origins: new OriginPolicy(config.http.allowedOrigins),
      clientIps: new ClientIpResolver(config.http.trustedProxies),
      logger: logger.child({ component: "http" }),
    });
    if (config.metricsEnabled) collectProcessMetrics();
    this.dashboardTokens = new SignedUserTokens(config.jwtSecret, (claims) => records.revocations.revoked(claims));
    this.wall = this.#createWall(options.wall ?? {});
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

  /** Shutting down: reports not ready and takes no new sessions. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * SIGTERM: report not ready, take no new sessions (creation places them on
   * other nodes), let the live ones finish for at most `timeoutMs`, then close
   * (whatever is still live ends with its final score).
   */
  async drain(timeoutMs = this.config.node.drainTimeoutMs): Promise<void> {
    if (!this.#draining) {
      this.#draining = true;
      this.logger.info({ liveSessions: this.sessions.size, timeoutMs }, "draining");
      await this.nodes.beat();
      const deadline = performance.now() + timeoutMs;
      // Ends under way too: their final scores and end records go out before the records close.
      while ((this.sessions.size > 0 || this.sessions.ending > 0) && performance.now() < deadline && !this.#closing)
        await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await this.close();
  }

  /**
   * Stops the node; every call waits for the same shutdown to finish (a second
   * signal during a drain must not let the first one's caller exit midway).
   */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    this.#closing = true;
    this.#draining = true;
    for (const socket of this.#listenSockets) this.#uws.us_listen_socket_close(socket);
    this.#listenSockets = [];
    await this.sessions.closeAll(EndReason.SHUTDOWN);
    this.rateLimits.sessionsPerClient.close();
    this.rateLimits.sessionsPerStore.close();
    this.rateLimits.storeLookups.close();
    this.nodes.close();
    for (const unsubscribe of this.#unsubscribe) unsubscribe();
    // The ended sessions' records first (rewards decided and published), then
    // what the wall does with them (auto-approval), and only then the database.
    await this.records.flush(10_000);
    await this.wall.settled();
    await this.records.close();
    this.wall.close();
    this.bus.close();
    this.mediaPool.close();
    this.asrPool.close();
    this.tts.close?.();
    await this.embeddedAsr?.stop();
    this.#redis?.disconnect();
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
      onMediaLost: (session, reason) => this.#onMediaLost(parts, session, reason),
      // Its slots, media and records are released as by any end; the customer's socket stays a
      // while for the reward (CustomerSocket.detach), which the app waits for on the end screen.
      onConversationOver: (session, reason) => void this.sessions.end(session, reason, true),
      audioTap: (sessionId) => this.records.audioTap(sessionId),
    };
    const edge = this.#edge;
    const health = {
      readiness: new ReadinessCheck({
        mediaPool: this.mediaPool,
        asrPool: this.asrPool,
        scoring: this.scoring,
        draining: () => this.#draining,
      }),
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
      speechAvailable: (language) => this.asrPool.admits(language),
      maintenance: config.node.maintenance,
      placement: this.placement,
      nodeId: config.nodeId,
      logger: logger.child({ component: "sessions" }),
      logThrottle: this.#logThrottle,
    });
    mountStoreRoutes(this.#app, edge, {
      records: this.records,
      perClient: this.rateLimits.storeLookups,
      logger: logger.child({ component: "stores" }),
      retention: {
        transcriptDays: config.records.dataRetentionDays,
        voiceDataHours: config.records.voiceRetentionHours,
      },
    });
    mountCustomerWs(
      this.#app,
      {
        sessions: this.sessions,
        bus: this.bus,
        placement: this.placement,
        nodeId: config.nodeId,
        rejoinGraceMs: config.limits.rejoinGraceMs,
        resume: (sessionId, holdSlot) =>
          resumeSession(
            {
              records: this.records,
              stores: this.stores,
              sessions: this.sessions,
              placement: this.placement,
              nodeId: config.nodeId,
              maxAgeMs: config.limits.sessionMaxDurationMs,
              draining: () => this.#draining,
            },
            sessionId,
            holdSlot,
          ),
        jwtSecret: config.jwtSecret,
        maxMessageBytes: config.maxWsMessageBytes,
        startConversation: (session) => this.sessions.begin(session, (s) => startConversation(parts, s)),
        renewMedia: (session) => moveMedia(parts, session),
        admitSpeech: (session) => admitSpeech(parts, session),
        draining: () => this.#draining,
        openSessions: this.clientLimits.sessions,
        limits: config.limits,
        logThrottle: this.#logThrottle,
        logger,
      },
      { edge, sockets: this.clientLimits.sockets, logThrottle: this.#logThrottle, logger },
    );
    mountRecordsRoutes(this.#app, edge, this.records.routes);
    mountWallWs(
      this.#app,
      this.wall,
      {
        maxMessageBytes: config.maxWsMessageBytes,
        // uWS's own limit only catches what the hub's policy somehow did not.
        hardLimitBytes: 8 * config.wall.slowClient.closeBytes,
      },
      { edge, sockets: this.clientLimits.dashboardSockets, logThrottle: this.#logThrottle, logger },
    );
    mountDashboardRoutes(this.#app, edge, config.wall.distDir, logger);
    // Last: uWS matches "/*" only when no other route does.
    mountStaticRoutes(this.#app, edge, config.clientDistDir, logger);
  }

  /**
   * Shared state with the other nodes (see sharedStateRedis). A Redis that is
   * down at start delays nothing beyond a few seconds: the client reconnects
   * by itself.
   */
  static async #connectRedis(config: Config, logger: Logger): Promise<Redis> {
    const { url, password } = config.redis!;
    const client = sharedStateRedis({ url, password, nodeId: config.nodeId, logger });
    await Promise.race([
      new Promise((resolve) => client.once("ready", resolve)),
      new Promise((resolve) => setTimeout(resolve, 5_000).unref()),
    ]);
    return client;
  }

  static #openRecords(
    config: Config,
    logger: Logger,
    publish: (target: PublishTarget, event: LiveEvent) => void,
    onCustomerDeleted: (deleted: CustomerDeletion) => void,
  ): Promise<Records> {
    const r = config.records;
    const stripeApi = r.stripe?.apiUrl;
    for (const limit of recordsRateLimits) rateLimitRefusals.inc({ limit }, 0);
    return Records.create({
      databaseUrl: r.databaseUrl,
      dataDir: r.dataDir,
      nodeId: config.nodeId,
      logger,
      authSecret: config.jwtSecret,
      encryptionKey: r.encryptionKey,
      seedDemo: r.seedDemo,
      fraud: { enabled: r.fraudEnabled },
      retention: { dataRetentionDays: r.dataRetentionDays, voiceRetentionHours: r.voiceRetentionHours },
      sessionLiveLimitMs: config.tokenTtlMs + config.limits.sessionMaxDurationMs + config.limits.rejoinGraceMs,
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
      onCustomerDeleted,
      countSession: (labels) => feedbackSessionsTotal.inc(labels),
      onRateLimited: (limit) => rateLimitRefusals.inc({ limit }),
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

  #createWall(bindings: WallBindings): Wall {
    const { config, logger } = this;
    const email = config.wall.alerts.email;
    // Across nodes each alert is e-mailed by one node, and the limit per business counts in Redis.
    const alertLogger = logger.child({ component: "alert-email" });
    const redis = this.#redis;
    return new Wall({
      nodeId: config.nodeId,
      bus: this.bus,
      publish: (topic, frame) => this.#app.publish(topic, frame, true),
      logger: logger.child({ component: "wall" }),
      verifier: bindings.verifier ?? this.dashboardTokens,
      stores: this.stores,
      history: bindings.history ?? new RecordsWallHistory(this.records.wall),
      moderationStore: bindings.moderationStore ?? new RecordsModerationStore(this.records.moderation),
      businessNames: (ids) => this.records.wall.businessNames(ids),
      limits: config.wall.slowClient,
      flushIntervalMs: config.wall.flushIntervalMs,
      orphans: {
        aliveNodes: async () => (await this.nodes.list()).map((n) => n.nodeId),
        graceMs: LOST_AFTER_SILENT_MS,
        maxDurationMs: config.limits.sessionMaxDurationMs,
      },
      alerts: {
        lowScore: config.wall.alerts.lowScore,
        negativeSentiment: config.wall.alerts.negativeSentiment,
        ...(email
          ? {
              email: {
                mailer: new SendGridMailer({ apiKey: email.apiKey, apiUrl: email.apiUrl, from: email.from }),
                recipients:
                  bindings.alertRecipients ??
                  new BusinessOwnerRecipients((id) => this.records.wall.ownerEmails(id), email.to),
                ...(redis ? { claims: new RedisAlertEmailClaims({ redis, logger: alertLogger }) } : {}),
                limit: createRateLimiter(alertEmailRateLimit, redis ? { redis, logger: alertLogger } : undefined),
              },
            }
          : {}),
        fraudRules: async (sessionId) =>
          (await this.records.wall.fraudFlags(sessionId)).filter((f) => f.severity === "fraud").map((f) => f.rule),
        store: bindings.alertStore ?? new RecordsAlertStore(this.records.alerts),
      },
      maxMessageBytes: config.maxWsMessageBytes,
      node: {
        sessions: this.sessions,
        mediaPool: this.mediaPool,
        asrPool: this.asrPool,
        scoring: this.scoring,
        llmLimits: { maxConcurrent: config.scoring.maxConcurrent, maxWaiting: config.scoring.maxQueue },
        draining: () => this.#draining,
        maintenance: config.node.maintenance,
      },
    });
  }

  /**
   * The session's media is lost (its worker died, or one of the customer's
   * transports failed): fresh media on a live worker, and the customer's app
   * reconnects its transports (MediaReset); the conversation goes on. Only
   * when no worker can take it does the session end (the transcript so far
   * is kept).
   */
  #onMediaLost(parts: ConversationParts, session: Session, reason: string): void {
    if (session.ended) return;
    const moves = (this.#mediaMoves.get(session) ?? 0) + 1;
    this.#mediaMoves.set(session, moves);
    // A customer whose DTLS fails every time would otherwise be moved for as long as the socket lives.
    if (moves > MAX_MEDIA_MOVES) {
      this.#endForLostMedia(session, reason, "session lost its media too often");
      return;
    }
    session.logger.warn({ reason, moves }, "session lost its media; moving its media");
    mediaMoves.inc({ reason });
    moveMedia(parts, session).then(
      () =>
        session.publishEvent(
          create(LiveEventSchema, {
            kind: { case: "mediaReset", value: { sessionId: session.id, reason } },
          }),
        ),
      (err: unknown) => {
        if (session.ended) return;
        session.logger.error({ err }, "no media worker can take the session");
        this.#endForLostMedia(session, reason);
      },
    );
  }

  /** The conversation cannot get its audio back: the customer is told, the transcript so far is kept. */
  #endForLostMedia(session: Session, reason: string, why?: string): void {
    if (why) session.logger.error({ reason }, why);
    session.publishEvent(
      create(LiveEventSchema, {
        kind: {
          case: "status",
          value: { sessionId: session.id, state: StreamState.FAILED, detail: reason },
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

/** Media moves one conversation gets before it ends for lost media. */
const MAX_MEDIA_MOVES = 5;

/** A created session nobody joined in this time is removed (the token may live longer). */
const UNJOINED_SESSION_TTL_MS = 60_000;

/** A listener only this machine reaches: its own URL is then where its customers are. */
const isLoopbackHost = (host: string) => host === "localhost" || host === "::1" || host.startsWith("127.");
