// A throwaway PostgreSQL cluster for tests, drills and benchmarks: Debian's
// postgresql-15 binaries, `initdb` into a temporary folder, a free port on
// 127.0.0.1, removed by destroy(). initdb refuses to run as root, so as root
// every server command runs as the `postgres` system user (created by the
// Debian package), which owns the folder.
//
//   const pg = await PostgresCluster.start();
//   const url = await pg.createDatabase();   // a fresh database per test
//   await pg.stop(); await pg.start();       // a real restart, data kept
//   await pg.destroy();
import { execFile, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import postgres from "postgres";

const run = promisify(execFile);

export interface PostgresClusterOptions {
  /** Folder of initdb/pg_ctl; default PARLEY_PG_BIN or /usr/lib/postgresql/15/bin. */
  binDir?: string;
  /** Extra server settings (`-c name=value`). Tests pass fsync=off; benchmarks keep the defaults. */
  settings?: Record<string, string>;
  /** A port to use; default a free one. */
  port?: number;
}

export class PostgresCluster {
  readonly dir: string;
  readonly port: number;
  readonly #binDir: string;
  readonly #settings: Record<string, string>;
  readonly #runAs: string | undefined;
  #running = false;
  #destroyed = false;
  #databases = 0;

  static async start(options: PostgresClusterOptions = {}): Promise<PostgresCluster> {
    const binDir = options.binDir ?? process.env.PARLEY_PG_BIN ?? "/usr/lib/postgresql/15/bin";
    if (!fs.existsSync(path.join(binDir, "initdb")))
      throw new Error(`no initdb in ${binDir}: install Debian's postgresql-15 (scripts/install.sh does)`);
    const runAs = process.getuid?.() === 0 ? "postgres" : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-pg-"));
    if (runAs) {
      const owner = spawnSync("id", ["-u", runAs], { encoding: "utf8" });
      const group = spawnSync("id", ["-g", runAs], { encoding: "utf8" });
      if (owner.status !== 0)
        throw new Error(`running as root needs the '${runAs}' user (Debian's postgresql package)`);
      fs.chownSync(dir, Number(owner.stdout.trim()), Number(group.stdout.trim()));
    }
    const port = options.port ?? (await freePort());
    const cluster = new PostgresCluster(dir, port, binDir, options.settings ?? {}, runAs);
    try {
      await cluster.#exec("initdb", [
        "-D",
        cluster.dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-sync",
      ]);
      await cluster.start();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  private constructor(
    dir: string,
    port: number,
    binDir: string,
    settings: Record<string, string>,
    runAs: string | undefined,
  ) {
    this.dir = dir;
    this.port = port;
    this.#binDir = binDir;
    this.#settings = settings;
    this.#runAs = runAs;
  }

  get dataDir(): string {
    return path.join(this.dir, "data");
  }

  /** postgres://postgres@127.0.0.1:port/database */
  url(database = "postgres"): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  get running(): boolean {
    return this.#running;
  }

  /** Starts the server (again) and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.#running) return;
    const settings = {
      listen_addresses: "127.0.0.1",
      port: String(this.port),
      unix_socket_directories: this.dir,
      ...this.#settings,
    };
    const options = Object.entries(settings)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(" ");
    await this.#exec("pg_ctl", [
      "start",
      "-w",
      "-t",
      "60",
      "-D",
      this.dataDir,
      "-l",
      path.join(this.dir, "log"),
      "-o",
      options,
    ]);
    this.#running = true;
  }

  /** Stops the server (fast: open connections are cut, committed data kept). */
  async stop(): Promise<void> {
    if (!this.#running) return;
    await this.#exec("pg_ctl", ["stop", "-w", "-t", "60", "-m", "fast", "-D", this.dataDir]);
    this.#running = false;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Creates an empty database and returns its URL. */
  async createDatabase(name = `db${++this.#databases}_${process.pid}`): Promise<string> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    await this.#exec("psql", [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-U",
      "postgres",
      "-v",
      "ON_ERROR_STOP=1",
      "-qc",
      `create database ${name}`,
    ]);
    return this.url(name);
  }

  /** The server's log, for a failing test's message. */
  log(): string {
    try {
      return fs.readFileSync(path.join(this.dir, "log"), "utf8");
    } catch {
      return "";
    }
  }

  /** Stops the server and removes the folder; safe to call twice. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    try {
      await this.stop();
    } finally {
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }

  async #exec(tool: string, args: string[]): Promise<void> {
    const bin = path.join(this.#binDir, tool);
    const [file, argv] = this.#runAs ? ["runuser", ["-u", this.#runAs, "--", bin, ...args]] : [bin, args];
    try {
      // cwd: the postgres user may not be allowed into the caller's folder.
      await run(file, argv, { cwd: this.dir, timeout: 120_000 });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${tool} failed: ${e.stderr?.trim() || e.message}\n${this.log().slice(-2000)}`);
    }
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

let created = 0;

/**
 * Creates an empty database on the server that `adminUrl` names (any
 * database of it) and returns the new database's URL: for test processes
 * that share one cluster started elsewhere (a Vitest global setup).
 */
export async function createDatabaseAt(adminUrl: string): Promise<string> {
  const name = `t${process.pid}_${++created}_${Date.now().toString(36)}`;
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(`create database ${name}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
