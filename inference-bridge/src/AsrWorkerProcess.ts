// Runs the Python CPU speech worker (asr-worker/) as a child process: the
// embedded default on one machine, and the real worker the tests talk to.
// It listens on a fixed port so that a restarted worker keeps its address,
// on loopback only, and inherits none of the node's secrets: its environment
// is an allowlist, plus the token it must ask of callers (ASR_AUTH_TOKEN).

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import { forwardWorkerLog } from "./asrWorkerLog.ts";

export const ASR_WORKER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../asr-worker");

export interface AsrWorkerProcessOptions {
  logger: Logger;
  port?: number; // 0 or absent: a free port is chosen once
  maxStreams?: number;
  workerId?: string;
  /** Restart the worker when it exits unexpectedly. */
  restart?: boolean;
  extraArgs?: string[];
  /** How long start-up may take (loading a model, measuring it); default 30 s. */
  startTimeoutMs?: number;
  /** Callers must send `authorization: Bearer <token>`; absent: the worker asks for nothing. */
  authToken?: string;
  /** Starts the child; node's spawn unless a test makes a start fail. */
  spawnChild?: typeof spawn;
}

/** What the worker may see of the node's environment: the system's basics and its own knobs. */
const INHERITED_ENV =
  /^(PATH|HOME|USER|LANG|LC_[A-Z_]+|TZ|TMPDIR|PYTHON[A-Z_]*|GRPC_[A-Z_]+|OMP_NUM_THREADS|WHISPER_[A-Z_]+|HF_[A-Z_]+|TRANSFORMERS_[A-Z_]+)$/;

export function workerEnvironment(env: NodeJS.ProcessEnv, authToken?: string): NodeJS.ProcessEnv {
  const picked: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) if (INHERITED_ENV.test(name)) picked[name] = value;
  return { ...picked, PYTHONUNBUFFERED: "1", ...(authToken ? { ASR_AUTH_TOKEN: authToken } : {}) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 30_000;

export class AsrWorkerProcess {
  readonly port: number;
  readonly #options: AsrWorkerProcessOptions;
  #child: ChildProcess | undefined;
  #stopped = false;
  /** Started once: from then on an exit is a crash to restart from (restart on), never before. */
  #started = false;
  /** The wait before the next restart: doubles while restarts fail, back to the first once one starts. */
  #restartDelayMs = FIRST_RESTART_DELAY_MS;

  static async start(options: AsrWorkerProcessOptions): Promise<AsrWorkerProcess> {
    const python = path.join(ASR_WORKER_DIR, ".venv/bin/python");
    if (!existsSync(python))
      throw new Error(`speech worker environment missing: run ${path.join(ASR_WORKER_DIR, "setup.sh")}`);
    const worker = new AsrWorkerProcess(options, options.port || (await freePort()));
    await worker.#spawn();
    return worker;
  }

  private constructor(options: AsrWorkerProcessOptions, port: number) {
    this.#options = options;
    this.port = port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Kills the worker like a crash would (tests of fault handling). */
  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.#child?.kill(signal);
  }

  /** Starts it again after kill() when restart is off. */
  async respawn(): Promise<void> {
    await this.#spawn();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    const child = this.#child;
    // No pid: that child never started (a failed spawn), so no exit will come.
    if (!child || child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }

  #spawn(): Promise<void> {
    const { logger } = this.#options;
    // --exit-with-parent: a node killed outright (SIGKILL, a crash) leaves no worker behind.
    const args = ["-m", "parley_asr", "--host", "127.0.0.1", "--port", String(this.port), "--exit-with-parent"];
    if (this.#options.maxStreams) args.push("--max-streams", String(this.#options.maxStreams));
    if (this.#options.workerId) args.push("--worker-id", this.#options.workerId);
    args.push(...(this.#options.extraArgs ?? []));
    const child = (this.#options.spawnChild ?? spawn)(path.join(ASR_WORKER_DIR, ".venv/bin/python"), args, {
      cwd: ASR_WORKER_DIR,
      stdio: ["ignore", "pipe", "pipe"],
      env: workerEnvironment(process.env, this.#options.authToken),
    });
    this.#child = child;
    child.stderr?.on("data", forwardWorkerLog(logger.child({ asrWorker: this.port })));
    return new Promise<void>((resolve, reject) => {
      let ready = false;
      const startTimeoutMs = this.#options.startTimeoutMs ?? 30_000;
      // A worker that does not start in time is killed: nobody would hold a handle to stop it.
      const timer = setTimeout(() => {
        reject(new Error(`speech worker did not start within ${startTimeoutMs} ms`));
        child.kill("SIGKILL");
      }, startTimeoutMs);
      child.stdout?.on("data", (data: Buffer) => {
        if (!ready && data.toString("utf8").includes("LISTENING")) {
          ready = true;
          this.#started = true;
          this.#restartDelayMs = FIRST_RESTART_DELAY_MS;
          clearTimeout(timer);
          logger.info({ pid: child.pid, port: this.port }, "speech worker started");
          resolve();
        }
      });
      /** The child is gone (it exited, or could not be spawned at all): once, whichever says so first. */
      let gone = false;
      const onGone = (why: Error, details: Record<string, unknown>) => {
        if (gone) return;
        gone = true;
        clearTimeout(timer);
        if (!ready) reject(why);
        // The first start's failure is the caller's to handle (start() rejects): no restarts behind its back.
        if (this.#stopped || this.#child !== child || !this.#started) return;
        logger.error({ ...details, port: this.port }, "speech worker exited");
        if (this.#options.restart) this.#restartLater();
      };
      child.once("exit", (code, signal) =>
        onGone(new Error(`speech worker exited during start (code ${code}, signal ${signal})`), { code, signal }),
      );
      // Without a listener a failed spawn (EAGAIN, ENOMEM, a removed venv) would crash the node;
      // "exit" may not follow it, so it ends the child's life here too.
      child.once("error", (err) => onGone(err, { err }));
    });
  }

  #restartLater(): void {
    const delay = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delay * 2, MAX_RESTART_DELAY_MS);
    setTimeout(() => {
      if (this.#stopped) return;
      // A failed restart's exit schedules the next one (with a longer wait).
      this.#spawn().catch((err: unknown) => this.#options.logger.error({ err }, "speech worker restart failed"));
    }, delay).unref();
  }
}
