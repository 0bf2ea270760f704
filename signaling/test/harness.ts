// Starts real Parley nodes for tests: real mediasoup workers, the real Python
// speech worker, the real uWS edge on a free port. The client side (protocol
// client, WebRTC customer, recordings) lives in @parley/loadtest.
import type { RetryPolicy } from "@parley/inference-bridge";
import pino, { type Logger } from "pino";
import { loadConfig } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";

export async function startServer(
  env: Record<string, string> = {},
  asrRetry?: RetryPolicy,
  logger?: Logger,
): Promise<ParleyServer> {
  const config = loadConfig({
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    INTERNAL_PORT: "0",
    MEDIASOUP_WORKERS: "1",
    JWT_SECRET: "test-secret-test-secret-test-secret-42",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    ...env,
  });
  return ParleyServer.create({
    config,
    logger: logger ?? pino({ level: config.logLevel }),
    ...(asrRetry ? { asrRetry } : {}),
  });
}

export { createSession, ProtocolClient as TestSocket } from "@parley/loadtest";
