// @ts-check
// The embedded database's own process: PGlite (PostgreSQL in WebAssembly)
// behind pglite-socket's wire-protocol server on 127.0.0.1. Started by
// EmbeddedPostgres with an IPC channel; plain JavaScript so that it starts
// without the TypeScript loader the node runs under.
//
// Why a process of its own: PGlite executes every query synchronously on the
// thread that calls it. In the node's process a wall's 30-day trends over a
// large history stopped the event loop that carries every customer's audio
// for as long as the query ran (half a second: `bench/embedded-stall.bench.ts`
// measures both ways); here the node only waits on a socket.
//
//   node embeddedPostgresProcess.mjs <dataDir> <port, 0: any free one>
//   → IPC { ready: port } or { error: message }
//
// It lives exactly as long as its IPC channel: the node closes the channel
// (or dies) and this process closes the database files and exits. SIGINT and
// SIGTERM are ignored, because a Ctrl-C reaches the whole process group and
// the node still writes its last records while it shuts down.
import fs from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

const [dataDir, portArg] = process.argv.slice(2);
if (!dataDir || !process.send) {
  console.error("usage: node embeddedPostgresProcess.mjs <dataDir> <port> (with an IPC channel)");
  process.exit(2);
}
process.on("SIGINT", () => {});
process.on("SIGTERM", () => {});

/** @type {PGlite | undefined} */
let db;
/** @type {PGLiteSocketServer | undefined} */
let server;
let closing = false;

async function close() {
  if (closing) return;
  closing = true;
  try {
    await server?.stop();
    await db?.close();
  } finally {
    process.exit(0);
  }
}
process.on("disconnect", () => void close());

try {
  fs.mkdirSync(dataDir, { recursive: true });
  db = await PGlite.create(dataDir);
  server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: Number(portArg ?? 0), maxConnections: 1 });
  await server.start();
  const conn = server.getServerConn();
  process.send({ ready: Number(conn.slice(conn.lastIndexOf(":") + 1)) });
} catch (error) {
  process.send({ error: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
}
