// Starts real Parley nodes for tests: real mediasoup workers, the real Python
// speech worker, the real uWS edge on a free port. The client side (protocol
// client, WebRTC customer, recordings) lives in @parley/loadtest.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { RetryPolicy } from "@parley/inference-bridge";
import { createDatabaseAt } from "@parley/records/testing";
import pino, { type Logger } from "pino";
import { inject } from "vitest";
import { loadConfig } from "../src/config.ts";
import { ParleyServer } from "../src/ParleyServer.ts";

/**
 * A node on a free port with one mediasoup worker and its own fresh database,
 * seeded with the demo business and its `demo` store: on the test run's
 * PostgreSQL cluster under Vitest (pass DATABASE_URL to share one), else
 * (benchmarks) an embedded one in a temporary folder.
 */
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
    PARLEY_SEED_DEMO: "1",
    ...env,
    ...(await database(env)),
  });
  return ParleyServer.create({
    config,
    logger: logger ?? pino({ level: config.logLevel }),
    ...(asrRetry ? { asrRetry } : {}),
  });
}

/** A token of the demo business's owner (the node's database was seeded on this start). */
export async function ownerToken(server: ParleyServer): Promise<string> {
  const demo = server.records.demo;
  if (!demo) throw new Error("the node's database was not seeded on this start");
  const res = await fetch(`${server.url}/api/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(demo.owner),
  });
  if (res.status !== 200) throw new Error(`owner login: ${res.status}`);
  return ((await res.json()) as { token: string }).token;
}

/** A dashboard token signed by the node: the demo business's owner, or an admin (`who` names the user). */
export function dashboardToken(server: ParleyServer, role: "owner" | "admin", who: string): string {
  return server.dashboardTokens.issue(
    { userId: `${role}-${who}`, role, ...(role === "owner" ? { businessId: demoBusiness(server) } : {}) },
    600_000,
  );
}

/** Adds a store to the demo business through the records API. */
export async function addStore(server: ParleyServer, code: string, language = "en-US"): Promise<void> {
  const res = await fetch(`${server.url}/api/businesses/${server.records.demo!.businessId}/stores`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await ownerToken(server)}` },
    body: JSON.stringify({ code, name: code, language }),
  });
  if (res.status !== 201) throw new Error(`store ${code}: ${res.status} ${await res.text()}`);
}

/**
 * Another business with one store, written straight into the node's
 * database (admins onboard businesses there); its id.
 */
export async function addBusiness(server: ParleyServer, name: string, storeCode: string): Promise<string> {
  const sql = server.records.sql;
  const [business] = await sql<{ id: string }[]>`
    insert into businesses (id, name) values (gen_random_uuid(), ${name}) returning id`;
  await sql`
    insert into stores (id, business_id, code, name, language, reward_policy)
    select gen_random_uuid(), ${business!.id}, ${storeCode}, ${storeCode}, 'en-US', reward_policy
    from stores where code = 'demo'`;
  return business!.id;
}

/** The demo business's id in the node's database. */
export const demoBusiness = (server: ParleyServer) => server.records.demo!.businessId;

async function database(env: Record<string, string>): Promise<Record<string, string>> {
  if (env.DATABASE_URL || env.PARLEY_DATA_DIR) return {};
  if (process.env.VITEST) return { DATABASE_URL: await createDatabaseAt(inject("parleyPostgresUrl")) };
  return { PARLEY_DATA_DIR: mkdtempSync(path.join(os.tmpdir(), "parley-db-")) };
}

export { createSession, ProtocolClient as TestSocket } from "@parley/loadtest";
