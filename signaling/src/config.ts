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

export function loadConfig(env: Env = process.env): Config {
  const nodeEnv = env.NODE_ENV ?? "development";
  const secret = env.JWT_SECRET;
  if (!secret && nodeEnv === "production") throw new Error("JWT_SECRET must be set in production");
  if (secret && secret.length < 32) throw new Error("JWT_SECRET must be at least 32 characters");
  return {
    nodeEnv,
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
      turnSilenceMs: int(env, "TURN_SILENCE_MS", 500),
      maxTurns: int(env, "MAX_TURNS", 3),
      endSilenceMs: int(env, "END_SILENCE_MS", 30_000),
      ttsVoice: env.TTS_VOICE ?? "slt",
    },
    asr: {
      workers: (env.ASR_WORKERS ?? "")
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean),
      language: env.ASR_LANGUAGE ?? "en-US",
      chunkMs: int(env, "ASR_CHUNK_MS", 20),
      finishTimeoutMs: int(env, "VOICE_PROCESSING_TIMEOUT", 30_000),
      embeddedMaxStreams: int(env, "ASR_EMBEDDED_MAX_STREAMS", 8),
    },
  };
}

/** The configuration as it may be logged. */
export function describeConfig(config: Config): Record<string, unknown> {
  return { ...config, jwtSecret: config.jwtSecretGenerated ? "(generated for this process)" : "***" };
}
