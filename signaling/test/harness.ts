// Starts real Parley nodes for tests: real mediasoup workers, the real Python
// speech worker, the real uWS edge on a free port. The client side (protocol
// client, WebRTC customer, recordings) lives in @parley/loadtest.
import type { RetryPolicy } from "@parley/inference-bridge";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import { inject } from "vitest";
import { loadConfig } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";

/**
 * A node on a free port with one mediasoup worker and its own fresh database
 * on the run's PostgreSQL cluster (pass DATABASE_URL to share one), seeded
 * with the demo business and its `demo` store.
 */
export async function startServer(env: Record<string, string> = {}, asrRetry?: RetryPolicy): Promise<ParleyServer> {
  const config = loadConfig({
    ...process.env,
    HOST: "127.0.0.1",
    PORT: "0",
    MEDIASOUP_WORKERS: "1",
    JWT_SECRET: "test-secret-test-secret-test-secret-42",
    LOG_LEVEL: process.env.LOG_LEVEL ?? "silent",
    PARLEY_SEED_DEMO: "1",
    ...env,
    DATABASE_URL: env.DATABASE_URL ?? (await createDatabaseAt(inject("parleyPostgresUrl"))),
  });
  return ParleyServer.create({
    config,
    logger: pino({ level: config.logLevel }),
    ...(asrRetry ? { asrRetry } : {}),
  });
}

export { createSession, ProtocolClient as TestSocket } from "@parley/loadtest";
