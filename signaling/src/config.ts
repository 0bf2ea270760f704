// Every environment variable Parley reads is read here, once. Names follow the
// deployment guide where it has one (JWT_SECRET, LOG_LEVEL, ...). Secrets are
// masked when the configuration is logged.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface Config {
  nodeEnv: string;
  /** This node's name on the live-event bus and in logs (a pod name in Kubernetes). */
  nodeId: string;
  host: string;
  port: number;
  /** Where customers open the app (the deployment guide's FRONTEND_URL). */
  publicUrl: string;
  /** Where customers reach this node when other nodes send them here (NODE_PUBLIC_URL; default: where it listens). */
  nodePublicUrl: string | undefined;
  /** HTTPS/WSS straight from uWS (browsers allow the microphone only on https or localhost). */
  tls: { certFile: string; keyFile: string } | undefined;
  logLevel: string;
  jwtSecret: string;
  jwtSecretGenerated: boolean;
  /** Where a generated secret is kept across restarts (keepGeneratedSecret); absent: this process only. */
  jwtSecretKept?: string;
  tokenTtlMs: number;
  metricsEnabled: boolean;
  /** Accept uWS's slow pure-JS fallback when its native build does not load. */
  allowUwsFallback: boolean;
  maxWsMessageBytes: number;
  clientDistDir: string;
  /** Redis for what crosses nodes (the live-event bus, nodes and placement, rate limits); absent: this node works alone. */
  redis: { url: string; password: string | undefined } | undefined;
  /** This node in a cluster: how many sessions it takes, and how long it drains on SIGTERM. */
  node: {
    maxSessions: number;
    /** SIGTERM: take no new sessions, let live ones finish for at most this long, then exit. */
    drainTimeoutMs: number;
    /** MAINTENANCE_MODE: no new conversations (the app says why); live ones, dashboards and records go on. */
    maintenance: boolean;
  };
  /** Durable records: businesses, stores, conversations, rewards, fraud and privacy (@parley/records). */
  records: {
    /** DATABASE_URL; absent: the embedded PGlite in dataDir. */
    databaseUrl: string | undefined;
    /** The embedded database's folder (PARLEY_DATA_DIR); survives restarts. */
    dataDir: string;
    /** Create the demo business, its `demo` store and logins on an empty database (default: embedded only). */
    seedDemo: boolean;
    /** ENCRYPTION_KEY: seals the hashes' key stored in the database. */
    encryptionKey: Buffer | undefined;
    fraudEnabled: boolean;
    dataRetentionDays: number;
    voiceRetentionHours: number;
    /** Failed logins per IP and e-mail. */
    loginRateLimit: { windowMs: number; max: number; skipSuccessful: boolean };
    /** STRIPE_*; absent: rewards are decided and held, claims answer 503. */
    stripe:
      | {
          secretKey: string;
          webhookSecret: string;
          /** Where the customer returns after Stripe's onboarding; {session} is replaced. */
          returnUrl: string;
          /** Stripe's API elsewhere than api.stripe.com (the Stripe test double). */
          apiUrl: URL | undefined;
        }
      | undefined;
  };
  /** Who may call the edge from a browser, and whose addresses are believed. */
  http: {
    /**
     * Origins besides the node's own that may call the API (CORS) and open
     * the WebSocket. Empty: same origin only.
     */
    allowedOrigins: string[];
    /** Peers (addresses or CIDR blocks) whose X-Forwarded-For names the client. */
    trustedProxies: string[];
  };
  /** /ready and /metrics: a listener of their own, loopback by default. */
  internal: {
    host: string;
    /** 0 picks a free port. */
    port: number;
    /** When set, the public listener also serves /ready and /metrics to `Authorization: Bearer <token>`. */
    metricsToken: string | undefined;
  };
  /** Session creation per client address and per store (the deployment guide's RATE_LIMIT_*). */
  rateLimit: {
    windowMs: number;
    maxPerIp: number;
    maxPerStore: number;
  };
  /** What one client address and one socket may hold. */
  limits: {
    socketsPerIp: number;
    /** Sessions created from one address and not yet ended. */
    sessionsPerIp: number;
    /** A socket that has not joined by then is closed (4008). */
    joinTimeoutMs: number;
    /** A conversation whose socket dropped waits this long for the customer to join again. */
    rejoinGraceMs: number;
    /** A conversation ends with its final score after this long (END_REASON_MAX_DURATION). */
    sessionMaxDurationMs: number;
    /** Per socket: sustained messages per second, and the burst above it. */
    messagesPerSecond: number;
    messageBurst: number;
  };
  media: {
    workers: number;
    listenIp: string;
    announcedAddress: string | undefined;
    rtcMinPort: number;
    rtcMaxPort: number;
    workerBin: string | undefined;
    reorderWindowMs: number;
  };
  scoring: {
    /** Ollama's address (OLLAMA_HOST, or the deployment guide's OLLAMA_ENDPOINT); empty: built-in engine only. */
    ollamaHost: string | undefined;
    model: string;
    timeoutMs: number;
    budgetMs: number;
    maxConcurrent: number;
    maxQueue: number;
    partialIntervalMs: number;
  };
  dialogue: {
    turnSilenceMs: number;
    maxTurns: number;
    /** Silence after the answer to the last question that ends the conversation. */
    lastAnswerSilenceMs: number;
    endSilenceMs: number;
    ttsVoice: string;
    /** Synthesised speech kept for reuse, in seconds of audio (0: none). */
    ttsCacheSeconds: number;
    /**
     * The deployment guide's TTS_SERVICE_URL (an external speech service). Not
     * used: flite speaks in the node. Read only so that startup can warn when it is set.
     */
    ttsServiceUrl: string | undefined;
  };
  /** The business wall and admin monitor (/dashboard, /wall/ws). */
  wall: {
    distDir: string;
    /** Live frames to dashboards go out together at most this often (0: each at once). */
    flushIntervalMs: number;
    /** The per-dashboard backpressure policy (see wall/ClientOutbox.ts). */
    slowClient: {
      /** Buffered bytes at which a dashboard leaves the shared fast path for its own queue. */
      softLimitBytes: number;
      /** Queued bytes at which its partial transcripts are dropped. */
      dropPartialsBytes: number;
      /** Queued bytes of finals, scores and ends at which it is closed (it reconnects to a snapshot). */
      closeBytes: number;
      /** A dashboard that reads nothing for this long while data waits is closed. */
      stallTimeoutMs: number;
    };
    alerts: {
      /** A live score at or below this raises an alert (after enough words). */
      lowScore: number;
      /** A live sentiment at or below this raises an alert. */
      negativeSentiment: number;
      /** Alerts by e-mail through SendGrid; absent without SENDGRID_API_KEY. */
      email: { apiKey: string; apiUrl: string; from: string; to: string[] } | undefined;
    };
  };
  asr: {
    /** host:port of remote speech workers; empty means start the embedded CPU worker. */
    workers: string[];
    /** Audio per gRPC message: 20 sends every frame at once; 40 or 100 batch frames (more delay, no CPU saved in the node). */
    chunkMs: number;
    finishTimeoutMs: number;
    embeddedMaxStreams: number;
    /** TLS to remote speech workers; absent: plaintext (trusted network or loopback). */
    tls: AsrTlsConfig | undefined;
    /** Shared secret sent to speech workers as `authorization: Bearer <token>`. */
    authToken: string | undefined;
    /** A session admitted to speech holds a slot this long for its audio to start flowing. */
    admissionHoldMs: number;
    /** A worker whose stream broke or stalled sits out this long, doubled per further incident up to workerMaxDownMs. */
    workerDownMs: number;
    workerMaxDownMs: number;
    /** A worker reporting more partial lag than this (WorkerInfo.lag_ms) gets no new streams. */
    workerMaxLagMs: number;
  };
}

export interface AsrTlsConfig {
  /** PEM trust roots for the workers' certificates; absent: the system's roots. */
  caFile: string | undefined;
  /** A client certificate and key, for workers that require one (mutual TLS). */
  certFile: string | undefined;
  keyFile: string | undefined;
  /** The name the workers' certificate must carry, when it is not the host of ASR_WORKERS. */
  serverName: string | undefined;
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

/** The longest delay a Node timer keeps (about 24.8 days): beyond it setTimeout fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** An integer from `min` to `max`; out of range, the node refuses to start, naming the variable and its range. */
function intInRange(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = int(env, name, fallback);
  if (value < min || value > max) throw new Error(`${name} must be ${rangeText(min, max)}, got ${value}`);
  return value;
}

const rangeText = (min: number, max: number) =>
  max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `from ${min} to ${max}`;

/** A limit, rate or size where 0 would refuse everything (or divide by zero). */
const positiveInt = (env: Env, name: string, fallback: number) => intInRange(env, name, fallback, 1);

/** A count where 0 means none. */
const nonNegativeInt = (env: Env, name: string, fallback: number) => intInRange(env, name, fallback, 0);

/** Milliseconds that a timer waits, where 0 would mean "now". */
const positiveMs = (env: Env, name: string, fallback: number) => intInRange(env, name, fallback, 1, MAX_TIMER_MS);

/** Milliseconds that a timer waits, where 0 means at once. */
const nonNegativeMs = (env: Env, name: string, fallback: number) => intInRange(env, name, fallback, 0, MAX_TIMER_MS);

/** A TCP or UDP port; `min` 0 lets the system pick one. */
const port = (env: Env, name: string, fallback: number, min = 0) => intInRange(env, name, fallback, min, 65_535);

function num(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a number, got "${raw}"`);
  return value;
}

/** "a, b,c" → ["a", "b", "c"] */
const list = (raw: string) =>
  raw
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

const flag = (raw: string | undefined) => raw === "1" || raw === "true";

/** "15m", "24h", "30s", "500ms" or plain milliseconds. */
export function parseDurationMs(raw: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) throw new Error(`not a duration: "${raw}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? "ms") as "ms"];
  return Number(match[1]) * unit;
}

/** A duration such as "15m" (see parseDurationMs) of at least 1 ms, within what a timer keeps. */
function durationMs(env: Env, name: string, fallback: string): number {
  const raw = env[name]?.trim() || fallback;
  let ms: number;
  try {
    ms = parseDurationMs(raw);
  } catch {
    throw new Error(`${name} must be a duration such as 30s, 15m or 24h, got "${raw}"`);
  }
  if (ms < 1 || ms > MAX_TIMER_MS) throw new Error(`${name} must be from 1 ms to ${MAX_TIMER_MS} ms, got "${raw}"`);
  return ms;
}

/** The mediasoup worker built by scripts/build-mediasoup-worker.sh, if any. */
function builtWorkerBin(): string | undefined {
  try {
    // A missing file just means mediasoup's own prebuilt worker is used.
    const file = path.join(REPO_ROOT, ".cache/mediasoup-worker/current");
    const bin = fs.readFileSync(file, "utf8").trim();
    return fs.existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/** The origin part of a URL ("https://app.example.com"), for origin lists. */
function origin(raw: string): string {
  try {
    return new URL(raw).origin;
  } catch {
    throw new Error(`not a URL: "${raw}" (ALLOWED_ORIGINS and FRONTEND_URL take https://host[:port])`);
  }
}

/** mediasoup's UDP ports for WebRTC: a range of at least one port. */
function rtcPorts(env: Env): { rtcMinPort: number; rtcMaxPort: number } {
  const rtcMinPort = port(env, "MEDIASOUP_RTC_MIN_PORT", 40_000, 1);
  const rtcMaxPort = port(env, "MEDIASOUP_RTC_MAX_PORT", 49_999, 1);
  if (rtcMinPort > rtcMaxPort)
    throw new Error(`MEDIASOUP_RTC_MIN_PORT (${rtcMinPort}) must not exceed MEDIASOUP_RTC_MAX_PORT (${rtcMaxPort})`);
  return { rtcMinPort, rtcMaxPort };
}

function asrTls(env: Env): AsrTlsConfig | undefined {
  const tls: AsrTlsConfig = {
    caFile: env.ASR_TLS_CA_FILE || undefined,
    certFile: env.ASR_TLS_CERT_FILE || undefined,
    keyFile: env.ASR_TLS_KEY_FILE || undefined,
    serverName: env.ASR_TLS_SERVER_NAME || undefined,
  };
  if (!flag(env.ASR_TLS) && !tls.caFile && !tls.certFile) return undefined;
  if (!tls.certFile !== !tls.keyFile) throw new Error("ASR_TLS_CERT_FILE and ASR_TLS_KEY_FILE go together");
  return tls;
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? "development";
  const secret = env.JWT_SECRET;
  if (!secret && nodeEnv === "production") throw new Error("JWT_SECRET must be set in production");
  if (secret && secret.length < 32) throw new Error("JWT_SECRET must be at least 32 characters");
  const listenPort = port(env, "PORT", 8080);
  const publicUrl = (env.FRONTEND_URL?.trim() || `http://localhost:${listenPort}`).replace(/\/+$/, "");
  return {
    nodeEnv,
    publicUrl,
    nodePublicUrl: env.NODE_PUBLIC_URL?.trim().replace(/\/+$/, "") || undefined,
    nodeId: env.NODE_ID?.trim() || os.hostname(),
    host: env.HOST ?? "0.0.0.0",
    port: listenPort,
    tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE } : undefined,
    logLevel: env.LOG_LEVEL ?? "info",
    jwtSecret: secret ?? randomBytes(32).toString("hex"),
    jwtSecretGenerated: !secret,
    tokenTtlMs: durationMs(env, "JWT_EXPIRES_IN", "15m"),
    metricsEnabled: bool(env, "PROMETHEUS_METRICS_ENABLED", true),
    allowUwsFallback: env.PARLEY_ALLOW_UWS_FALLBACK === "1",
    maxWsMessageBytes: positiveInt(env, "MAX_WS_MESSAGE_BYTES", 64 * 1024),
    clientDistDir: env.CLIENT_DIST_DIR ?? path.join(REPO_ROOT, "client/dist"),
    redis: env.REDIS_URL?.trim() ? { url: env.REDIS_URL.trim(), password: env.REDIS_PASSWORD || undefined } : undefined,
    node: {
      // 0: placement never chooses this node.
      maxSessions: nonNegativeInt(env, "NODE_MAX_SESSIONS", 200),
      drainTimeoutMs: nonNegativeMs(env, "DRAIN_TIMEOUT_MS", 5 * 60_000 + 30_000),
      maintenance: bool(env, "MAINTENANCE_MODE", false),
    },
    records: records(env, publicUrl),
    http: {
      allowedOrigins: [...list(env.ALLOWED_ORIGINS ?? ""), ...list(env.FRONTEND_URL ?? "")].map(origin),
      trustedProxies: list(env.TRUSTED_PROXIES ?? ""),
    },
    internal: {
      host: env.INTERNAL_HOST ?? "127.0.0.1",
      port: port(env, "INTERNAL_PORT", 9464),
      metricsToken: env.METRICS_AUTH_TOKEN || undefined,
    },
    rateLimit: {
      windowMs: positiveMs(env, "RATE_LIMIT_WINDOW_MS", 900_000),
      maxPerIp: positiveInt(env, "RATE_LIMIT_MAX_REQUESTS", 1_000),
      maxPerStore: positiveInt(
        env,
        "RATE_LIMIT_MAX_REQUESTS_PER_STORE",
        positiveInt(env, "RATE_LIMIT_MAX_REQUESTS", 1_000),
      ),
    },
    limits: {
      socketsPerIp: positiveInt(env, "WS_MAX_SOCKETS_PER_IP", 16),
      sessionsPerIp: positiveInt(env, "SESSIONS_MAX_PER_IP", 8),
      joinTimeoutMs: positiveMs(env, "WS_JOIN_TIMEOUT_MS", 10_000),
      // 0: a dropped socket's conversation ends at once.
      rejoinGraceMs: nonNegativeMs(env, "WS_REJOIN_GRACE_MS", 20_000),
      sessionMaxDurationMs: positiveMs(env, "SESSION_MAX_DURATION_MS", 5 * 60_000),
      messagesPerSecond: positiveInt(env, "WS_MAX_MESSAGES_PER_SECOND", 20),
      messageBurst: positiveInt(env, "WS_MESSAGE_BURST", 40),
    },
    media: {
      workers: positiveInt(env, "MEDIASOUP_WORKERS", os.availableParallelism()),
      listenIp: env.MEDIASOUP_LISTEN_IP ?? "127.0.0.1",
      announcedAddress: env.MEDIASOUP_ANNOUNCED_ADDRESS || undefined,
      ...rtcPorts(env),
      workerBin: env.MEDIASOUP_WORKER_BIN || builtWorkerBin(),
      reorderWindowMs: nonNegativeMs(env, "AUDIO_REORDER_WINDOW_MS", 40),
    },
    scoring: {
      // An empty OLLAMA_HOST (as manifests leave it) must not hide the guide's OLLAMA_ENDPOINT.
      ollamaHost: env.OLLAMA_HOST?.trim() || env.OLLAMA_ENDPOINT?.trim() || undefined,
      model: env.OLLAMA_MODEL?.trim() || "qwen2:0.5b",
      timeoutMs: positiveMs(env, "OLLAMA_TIMEOUT_MS", 4_000),
      budgetMs: positiveMs(env, "OLLAMA_BUDGET_MS", 6_000),
      maxConcurrent: positiveInt(env, "OLLAMA_MAX_CONCURRENT", 4),
      maxQueue: nonNegativeInt(env, "OLLAMA_MAX_QUEUE", 32),
      partialIntervalMs: nonNegativeMs(env, "SCORING_PARTIAL_INTERVAL_MS", 2_000),
    },
    dialogue: {
      turnSilenceMs: positiveMs(env, "TURN_SILENCE_MS", 500),
      maxTurns: nonNegativeInt(env, "MAX_TURNS", 3),
      lastAnswerSilenceMs: positiveMs(env, "LAST_ANSWER_SILENCE_MS", 3_000),
      endSilenceMs: positiveMs(env, "END_SILENCE_MS", 30_000),
      ttsVoice: env.TTS_VOICE ?? "slt",
      ttsCacheSeconds: nonNegativeInt(env, "TTS_CACHE_SECONDS", 300),
      ttsServiceUrl: env.TTS_SERVICE_URL?.trim() || undefined,
    },
    wall: {
      distDir: env.DASHBOARD_DIST_DIR ?? path.join(REPO_ROOT, "dashboard/dist"),
      flushIntervalMs: nonNegativeMs(env, "WALL_FLUSH_INTERVAL_MS", 16),
      slowClient: {
        softLimitBytes: positiveInt(env, "WALL_CLIENT_SOFT_LIMIT_BYTES", 256 * 1024),
        dropPartialsBytes: positiveInt(env, "WALL_CLIENT_DROP_PARTIALS_BYTES", 1024 * 1024),
        closeBytes: positiveInt(env, "WALL_CLIENT_CLOSE_BYTES", 4 * 1024 * 1024),
        stallTimeoutMs: positiveMs(env, "WALL_CLIENT_STALL_MS", 30_000),
      },
      alerts: {
        lowScore: int(env, "ALERT_LOW_SCORE", 30),
        negativeSentiment: num(env, "ALERT_NEGATIVE_SENTIMENT", -0.5),
        email: env.SENDGRID_API_KEY?.trim()
          ? {
              apiKey: env.SENDGRID_API_KEY.trim(),
              apiUrl: env.SENDGRID_API_URL?.trim() || "https://api.sendgrid.com",
              from: env.ALERT_EMAIL_FROM?.trim() || "alerts@parley.invalid",
              to: list(env.ALERT_EMAIL_TO ?? ""),
            }
          : undefined,
      },
    },
    asr: {
      workers: list(env.ASR_WORKERS ?? ""),
      chunkMs: positiveMs(env, "ASR_CHUNK_MS", 20),
      finishTimeoutMs: positiveMs(env, "VOICE_PROCESSING_TIMEOUT", 30_000),
      // Two per core, as the worker's own default: on two cores the CPU engine holds 3-4 streams
      // at p95 partial lag <= 2 s (README, load testing); at 8 it lagged 29 s. Refuse, not lag.
      embeddedMaxStreams: positiveInt(env, "ASR_EMBEDDED_MAX_STREAMS", 2 * os.availableParallelism()),
      tls: asrTls(env),
      authToken: env.ASR_AUTH_TOKEN || undefined,
      admissionHoldMs: positiveMs(env, "ASR_ADMISSION_HOLD_MS", 10_000),
      ...asrWorkerHealth(env),
    },
  };
}

function asrWorkerHealth(env: Env): Pick<Config["asr"], "workerDownMs" | "workerMaxDownMs" | "workerMaxLagMs"> {
  const workerDownMs = positiveMs(env, "ASR_WORKER_DOWN_MS", 2_000);
  const workerMaxDownMs = positiveMs(env, "ASR_WORKER_MAX_DOWN_MS", 60_000);
  if (workerMaxDownMs < workerDownMs)
    throw new Error(
      `ASR_WORKER_MAX_DOWN_MS (${workerMaxDownMs}) must be at least ASR_WORKER_DOWN_MS (${workerDownMs})`,
    );
  // A Whisper worker's partial lag is about 1-2 s at capacity (README, capacity model).
  return { workerDownMs, workerMaxDownMs, workerMaxLagMs: positiveMs(env, "ASR_WORKER_MAX_LAG_MS", 10_000) };
}

const bool = (env: Env, name: string, fallback: boolean) => {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === "") return fallback;
  if (["1", "true", "yes", "on"].includes(raw)) return true;
  if (["0", "false", "no", "off"].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
};

function records(env: Env, publicUrl: string): Config["records"] {
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  const secretKey = env.STRIPE_SECRET_KEY?.trim();
  const webhookSecret = env.STRIPE_WEBHOOK_SECRET?.trim();
  if (secretKey && !webhookSecret) throw new Error("STRIPE_WEBHOOK_SECRET must be set with STRIPE_SECRET_KEY");
  return {
    databaseUrl,
    dataDir: env.PARLEY_DATA_DIR?.trim() || path.join(REPO_ROOT, ".data/pglite"),
    seedDemo: bool(env, "PARLEY_SEED_DEMO", !databaseUrl),
    encryptionKey: hexKey(env, "ENCRYPTION_KEY"),
    fraudEnabled: bool(env, "ENABLE_FRAUD_DETECTION", true),
    // 0 would delete conversations still under way, and their data codes with them.
    dataRetentionDays: positiveInt(env, "DATA_RETENTION_DAYS", 730),
    voiceRetentionHours: positiveInt(env, "VOICE_DATA_RETENTION_HOURS", 24),
    loginRateLimit: {
      windowMs: positiveMs(env, "RATE_LIMIT_WINDOW_MS", 900_000),
      max: positiveInt(env, "LOGIN_RATE_LIMIT_MAX", 10),
      skipSuccessful: bool(env, "RATE_LIMIT_SKIP_SUCCESSFUL_REQUESTS", true),
    },
    stripe:
      secretKey && webhookSecret
        ? {
            secretKey,
            webhookSecret,
            returnUrl: env.REWARD_RETURN_URL?.trim() || `${publicUrl}/?claimed={session}`,
            apiUrl: env.STRIPE_API_URL?.trim() ? new URL(env.STRIPE_API_URL.trim()) : undefined,
          }
        : undefined,
  };
}

/** A 32-byte key given as 64 hex digits (`openssl rand -hex 32`); unset: undefined. */
function hexKey(env: Env, name: string): Buffer | undefined {
  const raw = env[name]?.trim();
  if (!raw) return undefined;
  if (!/^[0-9a-fA-F]{64}$/.test(raw))
    throw new Error(`${name} must be 32 bytes as 64 hex digits (openssl rand -hex 32)`);
  return Buffer.from(raw, "hex");
}

/**
 * With no JWT_SECRET on the embedded database (the one-machine default), the
 * generated secret is kept beside the database (`jwt-secret`, mode 0600, in
 * the data folder's parent): a restarted node still accepts the tokens it
 * signed, so a conversation whose node restarted is taken up again and no
 * dashboard is signed out. With DATABASE_URL (a deployment) nothing is
 * written: set JWT_SECRET, shared by every node.
 */
export function keepGeneratedSecret(config: Config): Config {
  if (!config.jwtSecretGenerated || config.records.databaseUrl) return config;
  const file = path.join(path.dirname(path.resolve(config.records.dataDir)), "jwt-secret");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  try {
    // "wx": two nodes starting together on one folder keep the first one's.
    fs.writeFileSync(file, `${config.jwtSecret}\n`, { flag: "wx", mode: 0o600 });
    return { ...config, jwtSecretKept: file };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  }
  const kept = fs.readFileSync(file, "utf8").trim();
  if (kept.length < 32) throw new Error(`${file} holds no secret of at least 32 characters: delete it to start afresh`);
  return { ...config, jwtSecret: kept, jwtSecretKept: file };
}

const mask = (secret: string | undefined) => (secret ? "***" : undefined);

/** The configuration as it may be logged. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    jwtSecret: config.jwtSecretKept
      ? `(generated, kept in ${config.jwtSecretKept})`
      : config.jwtSecretGenerated
        ? "(generated for this process)"
        : "***",
    redis: config.redis && { url: maskUrl(config.redis.url), password: config.redis.password ? "***" : undefined },
    records: {
      ...config.records,
      databaseUrl: config.records.databaseUrl && maskUrl(config.records.databaseUrl),
      encryptionKey: config.records.encryptionKey && "***",
      stripe: config.records.stripe && { ...config.records.stripe, secretKey: "***", webhookSecret: "***" },
    },
    internal: { ...config.internal, metricsToken: mask(config.internal.metricsToken) },
    asr: { ...config.asr, authToken: mask(config.asr.authToken) },
    wall: {
      ...config.wall,
      alerts: {
        ...config.wall.alerts,
        email: config.wall.alerts.email && { ...config.wall.alerts.email, apiKey: "***" },
      },
    },
  };
}

/** scheme://user:secret@host → scheme://user:***@host */
function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
