// A throwaway Redis (Debian's redis-server) on a free loopback port, for
// tests of what crosses nodes. restart() stops and starts it on the same
// port; without persistence it comes back empty, as after a crash.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export class RedisServer {
  readonly port: number;
  readonly #dir: string;
  #process: ChildProcess | undefined;

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.#spawn();
    return server;
  }

  private constructor(port: number) {
    this.port = port;
    this.#dir = mkdtempSync(path.join(os.tmpdir(), "parley-redis-"));
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Kills the server as a crash would. */
  async kill(): Promise<void> {
    await this.#kill();
  }

  /** Starts it again on the same port, empty (no persistence). */
  async start(): Promise<void> {
    if (!this.#process) await this.#spawn();
  }

  async stop(): Promise<void> {
    await this.#kill();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  async #spawn(): Promise<void> {
    this.#process = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", this.#dir],
      { stdio: "ignore" },
    );
    await waitForPort(this.port);
  }

  async #kill(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (!child || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  }
}
