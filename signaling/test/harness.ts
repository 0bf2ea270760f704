// Starts real Parley nodes for tests: real mediasoup workers, the real Python
// speech worker, the real uWS edge on a free port. The client side (protocol
// client, WebRTC customer, recordings) lives in @parley/loadtest.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RetryPolicy } from "@parley/inference-bridge";
import { createDatabaseAt } from "@parley/records/testing";
import pino from "pino";
import { inject } from "vitest";
import { loadConfig } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";

/**
 * A node on a free port with one mediasoup worker and its own fresh database,
 * seeded with the demo business and its `demo` store: on the test run's
 * PostgreSQL cluster under Vitest (pass DATABASE_URL to share one), else
 * (benchmarks) an embedded one in a temporary folder.
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
    ...(await database(env)),
  });
  return ParleyServer.create({
    config,
    logger: pino({ level: config.logLevel }),
    ...(asrRetry ? { asrRetry } : {}),
  });
}

async function database(env: Record<string, string>): Promise<Record<string, string>> {
  if (env.DATABASE_URL || env.PARLEY_DATA_DIR) return {};
  if (process.env.VITEST) return { DATABASE_URL: await createDatabaseAt(inject("parleyPostgresUrl")) };
  return { PARLEY_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "parley-db-")) };
}

export { createSession, ProtocolClient as TestSocket } from "@parley/loadtest";
