// Shutting a node down by signals, as an orchestrator or an operator does:
// SIGTERM drains, a second signal stops at once. Either way the node exits
// only after its shutdown finished: records written, the embedded speech
// worker stopped (not left running without its parent).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "@parley/inference-bridge";
import { afterAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../src/config.ts";

const dataDir = mkdtempSync(path.join(os.tmpdir(), "parley-shutdown-"));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

interface RunningNode {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  stderr: () => string;
  logged: (msg: string) => { msg?: string; pid?: number } | undefined;
}

/** main.ts with embedded defaults (its own speech worker, PGlite), its JSON log lines collected. */
async function startNode(): Promise<RunningNode> {
  const port = await freePort();
  const internalPort = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(REPO_ROOT, "signaling/src/main.ts")], {
    cwd: path.join(REPO_ROOT, "signaling"),
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      INTERNAL_PORT: String(internalPort),
      MEDIASOUP_WORKERS: "1",
      PARLEY_DATA_DIR: path.join(dataDir, "pglite"),
      JWT_SECRET: "test-secret-test-secret-test-secret-42",
      LOG_LEVEL: "info",
      ASR_WORKERS: "", // the embedded speech worker, a child of the node
      DATABASE_URL: "",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: { msg?: string; pid?: number }[] = [];
  let partial = "";
  child.stdout.on("data", (data: Buffer) => {
    const parts = (partial + data.toString("utf8")).split("\n");
    partial = parts.pop() ?? "";
    for (const line of parts) if (line.startsWith("{")) lines.push(JSON.parse(line));
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const node = { child, port, exited, stderr: () => stderr, logged: (msg: string) => lines.find((l) => l.msg === msg) };
  try {
    await expect
      .poll(async () => (await fetch(`http://127.0.0.1:${internalPort}/ready`).catch(() => undefined))?.status, {
        timeout: 90_000,
        interval: 500,
      })
      .toBe(200);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return node;
}

/** The embedded speech worker's pid, from the node's log. */
function speechWorkerPid(node: RunningNode): number {
  const pid = node.logged("speech worker started")?.pid;
  expect(pid).toBeGreaterThan(0);
  expect(alive(pid!)).toBe(true);
  return pid!;
}

describe("a node stopped by signals", () => {
  it("on a second SIGTERM during the drain, finishes its shutdown before it exits", async () => {
    const node = await startNode();
    try {
      const workerPid = speechWorkerPid(node);
      // A session not yet ended keeps the drain waiting.
      const created = await fetch(`http://127.0.0.1:${node.port}/api/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ storeCode: "demo", consent: { given: true, version: "test-1" } }),
      });
      expect(created.status).toBe(201);

      node.child.kill("SIGTERM");
      await expect.poll(() => node.logged("draining"), { timeout: 20_000 }).toBeTruthy();
      node.child.kill("SIGTERM");
      expect(await node.exited, node.stderr()).toBe(0);
      // The whole shutdown ran: not cut short by the first signal's drain returning early.
      expect(node.logged("stopped")).toBeTruthy();
      expect(alive(workerPid)).toBe(false);
    } finally {
      node.child.kill("SIGKILL");
    }
  }, 180_000);

  it("killed outright, leaves no speech worker running behind it", async () => {
    const node = await startNode();
    const workerPid = speechWorkerPid(node);
    node.child.kill("SIGKILL");
    await node.exited;
    // The worker notices it lost its parent (it checks every second) and stops.
    await expect.poll(() => alive(workerPid), { timeout: 20_000, interval: 250 }).toBe(false);
  }, 180_000);
});
