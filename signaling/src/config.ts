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
  /** HTTPS/WSS straight from uWS (browsers allow the microphone only on https or localhost). */
  tls: { certFile: string; keyFile: string } | undefined;
  logLevel: string;
  jwtSecret: string;
  jwtSecretGenerated: boolean;
  tokenTtlMs: number;
  metricsEnabled: boolean;
  /** Accept uWS's slow pure-JS fallback when its native build does not load. */
  allowUwsFallback: boolean;
  maxWsMessageBytes: number;
  clientDistDir: string;
  /** Redis for what crosses nodes (the live-event bus); absent: this node works alone. */
  redis: { url: string; password: string | undefined } | undefined;
  /** The embedded store list, used until stores come from the records database. */
  stores: {
    codes: string[];
    businessId: string;
    /** Stores of other businesses than `businessId` (STORE_CODES entries written `code:business`). */
    businessOf: Record<string, string>;
    /** ISO 4217 currency of rewards. */
    currency: string;
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
    endSilenceMs: number;
    ttsVoice: string;
  };
  /** The business wall and admin monitor (/dashboard, /wall/ws). */
  wall: {
    distDir: string;
    /** Log sign-in links for the configured business and an admin at start (dev only; records' login replaces it). */
    devLogin: boolean;
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
    language: string;
    /** Audio per gRPC message: 20 sends every frame at once; 100 matches pocketsphinx's block and costs less CPU. */
    chunkMs: number;
    finishTimeoutMs: number;
    embeddedMaxStreams: number;
  };
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got "${raw}"`);
  return value;
}

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

/** "15m", "24h", "30s", "500ms" or plain milliseconds. */
export function parseDurationMs(raw: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!match) throw new Error(`not a duration: "${raw}"`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? "ms") as "ms"];
  return Number(match[1]) * unit;
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

/** "demo, north:acme" → the codes, and the business of those written code:business. */
function storeList(raw: string): { codes: string[]; businessOf: Record<string, string> } {
  const codes: string[] = [];
  const businessOf: Record<string, string> = {};
  for (const entry of list(raw)) {
    const [code, business] = entry.split(":").map((s) => s.trim());
    if (!code) continue;
    codes.push(code);
    if (business) businessOf[code] = business;
  }
  return { codes, businessOf };
}

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? "development";
  const secret = env.JWT_SECRET;
  if (!secret && nodeEnv === "production") throw new Error("JWT_SECRET must be set in production");
  if (secret && secret.length < 32) throw new Error("JWT_SECRET must be at least 32 characters");
  return {
    nodeEnv,
    nodeId: env.NODE_ID?.trim() || os.hostname(),
    host: env.HOST ?? "0.0.0.0",
    port: int(env, "PORT", 8080),
    tls: env.TLS_CERT_FILE && env.TLS_KEY_FILE ? { certFile: env.TLS_CERT_FILE, keyFile: env.TLS_KEY_FILE } : undefined,
    logLevel: env.LOG_LEVEL ?? "info",
    jwtSecret: secret ?? randomBytes(32).toString("hex"),
    jwtSecretGenerated: !secret,
    tokenTtlMs: parseDurationMs(env.JWT_EXPIRES_IN ?? "15m"),
    metricsEnabled: (env.PROMETHEUS_METRICS_ENABLED ?? "true") !== "false",
    allowUwsFallback: env.PARLEY_ALLOW_UWS_FALLBACK === "1",
    maxWsMessageBytes: int(env, "MAX_WS_MESSAGE_BYTES", 64 * 1024),
    clientDistDir: env.CLIENT_DIST_DIR ?? path.join(REPO_ROOT, "client/dist"),
    redis: env.REDIS_URL?.trim() ? { url: env.REDIS_URL.trim(), password: env.REDIS_PASSWORD || undefined } : undefined,
    stores: {
      ...storeList(env.STORE_CODES ?? "demo"),
      businessId: env.STORE_BUSINESS_ID?.trim() || "demo",
      currency: env.REWARD_CURRENCY?.trim() || "SEK",
    },
    media: {
      workers: int(env, "MEDIASOUP_WORKERS", os.availableParallelism()),
      listenIp: env.MEDIASOUP_LISTEN_IP ?? "127.0.0.1",
      announcedAddress: env.MEDIASOUP_ANNOUNCED_ADDRESS || undefined,
      rtcMinPort: int(env, "MEDIASOUP_RTC_MIN_PORT", 40_000),
      rtcMaxPort: int(env, "MEDIASOUP_RTC_MAX_PORT", 49_999),
      workerBin: env.MEDIASOUP_WORKER_BIN || builtWorkerBin(),
      reorderWindowMs: int(env, "AUDIO_REORDER_WINDOW_MS", 40),
    },
    scoring: {
      ollamaHost: (env.OLLAMA_HOST ?? env.OLLAMA_ENDPOINT)?.trim() || undefined,
      model: env.OLLAMA_MODEL?.trim() || "qwen2:0.5b",
      timeoutMs: int(env, "OLLAMA_TIMEOUT_MS", 4_000),
      budgetMs: int(env, "OLLAMA_BUDGET_MS", 6_000),
      maxConcurrent: int(env, "OLLAMA_MAX_CONCURRENT", 4),
      maxQueue: int(env, "OLLAMA_MAX_QUEUE", 32),
      partialIntervalMs: int(env, "SCORING_PARTIAL_INTERVAL_MS", 2_000),
    },
    dialogue: {
      turnSilenceMs: int(env, "TURN_SILENCE_MS", 900),
      maxTurns: int(env, "MAX_TURNS", 3),
      endSilenceMs: int(env, "END_SILENCE_MS", 30_000),
      ttsVoice: env.TTS_VOICE ?? "slt",
    },
    wall: {
      distDir: env.DASHBOARD_DIST_DIR ?? path.join(REPO_ROOT, "dashboard/dist"),
      devLogin: (env.WALL_DEV_LOGIN ?? (nodeEnv === "production" ? "0" : "1")) === "1",
      flushIntervalMs: int(env, "WALL_FLUSH_INTERVAL_MS", 16),
      slowClient: {
        softLimitBytes: int(env, "WALL_CLIENT_SOFT_LIMIT_BYTES", 256 * 1024),
        dropPartialsBytes: int(env, "WALL_CLIENT_DROP_PARTIALS_BYTES", 1024 * 1024),
        closeBytes: int(env, "WALL_CLIENT_CLOSE_BYTES", 4 * 1024 * 1024),
        stallTimeoutMs: int(env, "WALL_CLIENT_STALL_MS", 30_000),
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
      language: env.ASR_LANGUAGE ?? "en-US",
      chunkMs: int(env, "ASR_CHUNK_MS", 20),
      finishTimeoutMs: int(env, "VOICE_PROCESSING_TIMEOUT", 30_000),
      embeddedMaxStreams: int(env, "ASR_EMBEDDED_MAX_STREAMS", 8),
    },
  };
}

/** The configuration as it may be logged. */
export function describeConfig(config: Config): Record<string, unknown> {
  return {
    ...config,
    jwtSecret: config.jwtSecretGenerated ? "(generated for this process)" : "***",
    redis: config.redis && { url: maskUrl(config.redis.url), password: config.redis.password ? "***" : undefined },
    wall: {
      ...config.wall,
      alerts: {
        ...config.wall.alerts,
        email: config.wall.alerts.email && { ...config.wall.alerts.email, apiKey: "***" },
      },
    },
  };
}

/** redis://user:secret@host → redis://user:***@host */
function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(unparseable URL)";
  }
}
