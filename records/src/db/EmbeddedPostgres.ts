// The embedded default: PostgreSQL in WebAssembly (PGlite) behind
// pglite-socket's wire-protocol server on 127.0.0.1, so the same postgres.js
// code serves the embedded and the real database. One connection (pglite
// runs one query at a time anyway), no SSL, no LISTEN/NOTIFY.
//
// PGlite runs in a child process (embeddedPostgresProcess.mjs, which says
// why): the node's event loop never executes a query. If that process dies,
// it is started again on the same port; postgres.js reconnects and the record
// writer retries meanwhile, as it does for a real Postgres that restarts.
// The data folder survives restarts: a new one takes seconds to create,
// reopening an existing one well under a second.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import { fileURLToPath } from "node:url";

const PROCESS_ENTRY = fileURLToPath(new URL("./embeddedPostgresProcess.mjs", import.meta.url));
/** How long a new database may take to initialise (a few seconds on a busy machine). */
const START_TIMEOUT_MS = 120_000;
const RESTART_DELAY_MS = 1_000;

export interface EmbeddedPostgresEvents {
  /** The database process ended on its own (code or signal); it is being restarted. */
  onExit?: (how: string) => void;
  onRestarted?: (pid: number) => void;
  onRestartFailed?: (error: Error) => void;
}

export class EmbeddedPostgres {
  readonly dataDir: string;
  readonly host = "127.0.0.1";
  readonly port: number;
  /** True when this start created the folder (a new, empty database). */
  readonly created: boolean;
  readonly #events: EmbeddedPostgresEvents;
  #child: ChildProcess;
  #closed = false;
  #restartTimer: NodeJS.Timeout | undefined;

  static async start(dataDir: string, events: EmbeddedPostgresEvents = {}): Promise<EmbeddedPostgres> {
    const created = !fs.existsSync(dataDir) || fs.readdirSync(dataDir).length === 0;
    const { child, port } = await startProcess(dataDir, 0);
    return new EmbeddedPostgres(dataDir, port, created, child, events);
  }

  private constructor(
    dataDir: string,
    port: number,
    created: boolean,
    child: ChildProcess,
    events: EmbeddedPostgresEvents,
  ) {
    this.dataDir = dataDir;
    this.port = port;
    this.created = created;
    this.#events = events;
    this.#child = child;
    this.#watch(child);
  }

  /** The database process now (the embedded database's CPU and memory are its own). */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Closes the database files and ends its process; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    await stopProcess(this.#child);
  }

  #watch(child: ChildProcess): void {
    child.once("exit", (code, signal) => {
      if (this.#closed) return;
      this.#events.onExit?.(signal ?? `exit code ${code}`);
      this.#restartTimer = setTimeout(() => void this.#restart(), RESTART_DELAY_MS);
    });
  }

  async #restart(): Promise<void> {
    if (this.#closed) return;
    try {
      const { child } = await startProcess(this.dataDir, this.port);
      if (this.#closed) {
        await stopProcess(child);
        return;
      }
      this.#child = child;
      this.#watch(child);
      this.#events.onRestarted?.(child.pid ?? 0);
    } catch (error) {
      this.#events.onRestartFailed?.(error as Error);
      if (!this.#closed) this.#restartTimer = setTimeout(() => void this.#restart(), RESTART_DELAY_MS * 5);
    }
  }
}

function startProcess(dataDir: string, port: number): Promise<{ child: ChildProcess; port: number }> {
  // No environment: the database needs none of the node's secrets.
  const child = spawn(process.execPath, [PROCESS_ENTRY, dataDir, String(port)], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    env: {},
  });
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error("the embedded database did not start in time")), START_TIMEOUT_MS);
    child.once("error", fail);
    child.once("exit", (code, signal) => fail(new Error(`the embedded database exited (${signal ?? code})`)));
    child.once("message", (message: { ready?: number; error?: string }) => {
      if (message.ready === undefined) return fail(new Error(`the embedded database failed: ${message.error}`));
      clearTimeout(timer);
      child.removeAllListeners("exit");
      child.removeAllListeners("error");
      child.on("error", () => {}); // a late IPC error must not crash the node; "exit" follows
      // Neither the process nor its channel keeps the node alive: close() ends it, and so does the node's exit.
      child.unref();
      (child.channel as { unref?: () => void } | undefined)?.unref?.();
      resolve({ child, port: message.ready });
    });
  });
}

/** Closing the IPC channel asks the process to close its files and exit; a stuck one is killed. */
function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    if (child.connected) child.disconnect();
    else child.kill("SIGKILL");
  });
}
