// One node as its own process on a fixed port, for tests that kill it and
// start it again (a restart keeps the port, the node id and the database).
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { REPO_ROOT } from "../src/config.ts";

export interface NodeProcessOptions {
  port: number;
  databaseUrl: string;
  asrAddress: string;
  /** More environment (REDIS_URL, NODE_ID, ...). */
  env?: Record<string, string>;
}

/** Starts the node and resolves once its /health answers. */
export async function startNodeProcess(o: NodeProcessOptions): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "signaling/src/main.ts")], {
    env: {
      ...process.env,
      PORT: String(o.port),
      HOST: "127.0.0.1",
      INTERNAL_PORT: "0",
      NODE_ID: "restarting-node",
      MEDIASOUP_WORKERS: "1",
      JWT_SECRET: "test-secret-test-secret-test-secret-42",
      DATABASE_URL: o.databaseUrl,
      PARLEY_SEED_DEMO: "1",
      ASR_WORKERS: o.asrAddress,
      LOG_LEVEL: "warn",
      ...o.env,
    },
    cwd: path.join(REPO_ROOT, "signaling"),
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 150; i++) {
    const up = await fetch(`http://127.0.0.1:${o.port}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  child.kill("SIGKILL");
  throw new Error("node did not start");
}
