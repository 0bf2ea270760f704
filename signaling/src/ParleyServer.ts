// The node: HTTP + WebSocket edge (uWebSockets.js) in front of the media
// plane and the inference bridge, all in one process.
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
import { EndReason } from "@parley/proto/live";
import pino, { type Logger } from "pino";
import { CustomerSocket } from "./CustomerSocket.ts";
import { type Config, describeConfig } from "./config.ts";
import { handle, json, readBody } from "./http.ts";
import { collectProcessMetrics, register, wsConnections } from "./metrics.ts";
import { SessionRegistry } from "./SessionRegistry.ts";
import { loadStaticFiles } from "./static-files.ts";
import { issueToken } from "./token.ts";
import { loadUws, type TemplatedApp, type Uws, type us_listen_socket, type WebSocket } from "./uws.ts";

const STORE_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{1,63}$/;

interface SocketData {
  customer?: CustomerSocket;
}

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
  readonly sessions: SessionRegistry;
  readonly embeddedAsr: AsrWorkerProcess | undefined;
  readonly scoring: Scoring;
  readonly tts: SpeechSynthesizer;
  #listenSocket: us_listen_socket | false = false;
  #port = 0;
  #closing = false;

  static async create(options: ParleyServerOptions): Promise<ParleyServer> {
    const { config } = options;
    const logger = options.logger ?? pino({ level: config.logLevel, base: { service: "parley" } });
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
    this.config = options.config;
    this.logger = logger;
    this.mediaPool = mediaPool;
    this.asrPool = asrPool;
    this.embeddedAsr = embeddedAsr;
    this.#asrRetry = options.asrRetry;
    const { scoring, dialogue } = this.config;
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
    const tls = this.config.tls;
    const uws = loadUws(this.config.allowUwsFallback);
    this.#uws = uws;
    this.#app = tls ? uws.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile }) : uws.App();
    this.sessions = new SessionRegistry(
      logger,
      (topic, bytes) => this.#app.publish(topic, bytes, true),
      this.config.tokenTtlMs,
    );
    if (this.config.metricsEnabled) collectProcessMetrics();
  }

  readonly #app: TemplatedApp;
  readonly #uws: Uws;
  readonly #asrRetry: RetryPolicy | undefined;

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
    this.mediaPool.close();
    this.asrPool.close();
    await this.embeddedAsr?.stop();
    this.logger.info("stopped");
  }

  async #listen(): Promise<void> {
    const app = this.#app;
    const { config, logger } = this;
    const staticFiles = loadStaticFiles(config.clientDistDir);
    if (staticFiles.size === 0)
      logger.warn({ dir: config.clientDistDir }, "customer app not built: run `pnpm --filter @parley/client build`");

    app.get(
      "/health",
      handle("/health", () => json(200, { status: "ok" })),
    );

    app.get(
      "/ready",
      handle("/ready", async () => {
        const [workers, llm] = await Promise.all([
          this.asrPool.probe(1_000),
          this.scoring.ollama
            ?.probe(AbortSignal.timeout(1_000))
            .catch(() => ({ reachable: false, modelPresent: false })),
        ]);
        const media = this.mediaPool.describe();
        // Ollama is not required: the built-in scorer takes over, so it is reported, not gated on.
        const ready = media.length > 0 && workers.some((w) => w.ok);
        return json(ready ? 200 : 503, {
          ready,
          media,
          scoring: { engine: this.scoring.engine.name, ...(llm ? { ollama: llm } : {}) },
          asr: workers.map((w) => ({
            address: w.address,
            ok: w.ok,
            engine: w.info?.engine,
            activeStreams: w.info?.activeStreams,
            maxStreams: w.info?.maxStreams,
            lagMs: w.info?.lagMs,
            error: w.error,
          })),
        });
      }),
    );

    app.get(
      "/metrics",
      handle("/metrics", async () =>
        config.metricsEnabled
          ? { status: 200, body: await register.metrics(), contentType: register.contentType }
          : json(404, { error: "metrics disabled" }),
      ),
    );

    app.post(
      "/api/sessions",
      handle("/api/sessions", async (res, req) => {
        const contentType = req.getHeader("content-type");
        const body = readBody(res, 4096);
        if (!contentType.startsWith("application/json")) return json(415, { error: "send application/json" });
        let storeCode: unknown;
        try {
          storeCode = (JSON.parse((await body).toString("utf8")) as { storeCode?: unknown }).storeCode;
        } catch (error) {
          if ((error as { status?: number }).status === 413) return json(413, { error: "body too large" });
          return json(400, { error: "body is not valid JSON" });
        }
        if (typeof storeCode !== "string" || !STORE_CODE.test(storeCode))
          return json(400, { error: "storeCode must be 2–64 letters, digits, '-' or '_'" });
        const session = this.sessions.create(storeCode);
        const expiresAt = Date.now() + config.tokenTtlMs;
        const token = issueToken(config.jwtSecret, {
          sid: session.id,
          store: storeCode,
          exp: Math.floor(expiresAt / 1000),
        });
        session.logger.info({ storeCode }, "session created");
        return json(201, { sessionId: session.id, token, expiresAt: new Date(expiresAt).toISOString() });
      }),
    );

    app.ws<SocketData>("/ws", {
      compression: 0,
      // Frames above our own limit get a TOO_LARGE error; far larger ones are cut off by uWS.
      maxPayloadLength: config.maxWsMessageBytes * 4,
      maxBackpressure: 1024 * 1024,
      closeOnBackpressureLimit: 1,
      idleTimeout: 60,
      sendPingsAutomatically: true,
      open: (ws) => {
        wsConnections.inc();
        let open = true;
        const data = ws.getUserData();
        data.customer = new CustomerSocket(
          {
            config,
            sessions: this.sessions,
            mediaPool: this.mediaPool,
            asrPool: this.asrPool,
            scoring: this.scoring,
            tts: this.tts,
            logger,
            ...(this.#asrRetry ? { asrRetry: this.#asrRetry } : {}),
          },
          {
            send: (bytes) => {
              if (open) ws.send(bytes, true);
            },
            subscribe: (topic) => {
              if (open) ws.subscribe(topic);
            },
            close: (code, reason) => {
              if (open) ws.end(code, reason);
            },
          },
        );
        (data as SocketData & { markClosed: () => void }).markClosed = () => {
          open = false;
        };
      },
      message: (ws, message, isBinary) => ws.getUserData().customer?.onMessage(message, isBinary),
      close: (ws: WebSocket<SocketData>, code) => {
        wsConnections.dec();
        const data = ws.getUserData() as SocketData & { markClosed?: () => void };
        data.markClosed?.();
        data.customer?.onClose(code);
      },
    });

    app.get(
      "/*",
      handle("static", (_res, req) => {
        const url = req.getUrl();
        const file = staticFiles.get(url) ?? (url.includes(".") ? undefined : staticFiles.get("/index.html"));
        if (!file) return json(404, { error: "not found" });
        return {
          status: 200,
          body: file.body,
          contentType: file.contentType,
          headers: { "cache-control": url.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache" },
        };
      }),
    );

    await new Promise<void>((resolve, reject) => {
      app.listen(config.host, config.port, (socket) => {
        if (!socket) return reject(new Error(`cannot listen on ${config.host}:${config.port}`));
        this.#listenSocket = socket;
        this.#port = this.#uws.us_socket_local_port(socket);
        logger.info({ port: this.#port }, "listening");
        resolve();
      });
    });
  }
}
