// The README's first command: `pnpm start` (scripts/start.sh) brings up a node
// with embedded defaults, serves the app and the API, and stops cleanly on SIGTERM.
import { spawn } from "node:child_process";
import path from "node:path";
import { freePort } from "@parley/inference-bridge";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../src/config.ts";

describe("pnpm start", () => {
  it("serves the customer app, health and readiness, then shuts down gracefully", async () => {
    const port = await freePort();
    const internalPort = await freePort();
    const child = spawn("bash", [path.join(REPO_ROOT, "scripts/start.sh")], {
      env: {
        ...process.env,
        PORT: String(port),
        INTERNAL_PORT: String(internalPort),
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
        MEDIASOUP_WORKERS: "1",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const url = `http://127.0.0.1:${port}`;
    try {
      await expect
        .poll(async () => (await fetch(`http://127.0.0.1:${internalPort}/ready`).catch(() => undefined))?.status, {
          timeout: 90_000,
          interval: 500,
        })
        .toBe(200);
      const page = await fetch(`${url}/?store=demo`);
      expect(page.headers.get("content-type")).toMatch(/text\/html/);
      expect(await page.text()).toMatch(/<div id="root">/);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      // Readiness and metrics are not on the public listener.
      expect((await fetch(`${url}/metrics`)).status).toBe(404);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited, stderr).toBe(0);
  }, 120_000);
});
