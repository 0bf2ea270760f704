// The embedded default: PostgreSQL in WebAssembly (PGlite) in this process,
// behind pglite-socket's wire-protocol server on 127.0.0.1, so the same
// postgres.js code serves the embedded and the real database. One connection
// (pglite runs one query at a time anyway), no SSL, no LISTEN/NOTIFY.
// The data folder survives restarts: a new one takes seconds to create,
// reopening an existing one well under a second.
import fs from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export class EmbeddedPostgres {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  /** True when this start created the folder (a new, empty database). */
  readonly created: boolean;
  readonly #db: PGlite;
  readonly #server: PGLiteSocketServer;
  #closed = false;

  static async start(dataDir: string): Promise<EmbeddedPostgres> {
    const created = !fs.existsSync(dataDir) || fs.readdirSync(dataDir).length === 0;
    fs.mkdirSync(dataDir, { recursive: true });
    const db = await PGlite.create(dataDir);
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 1 });
    try {
      await server.start();
    } catch (error) {
      await db.close();
      throw error;
    }
    const conn = server.getServerConn();
    const port = Number(conn.slice(conn.lastIndexOf(":") + 1));
    return new EmbeddedPostgres(dataDir, "127.0.0.1", port, created, db, server);
  }

  private constructor(
    dataDir: string,
    host: string,
    port: number,
    created: boolean,
    db: PGlite,
    server: PGLiteSocketServer,
  ) {
    this.dataDir = dataDir;
    this.host = host;
    this.port = port;
    this.created = created;
    this.#db = db;
    this.#server = server;
  }

  /** Stops the socket server and closes the database files; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#server.stop();
    await this.#db.close();
  }
}
