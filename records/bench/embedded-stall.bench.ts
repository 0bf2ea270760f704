// How long a query on the embedded database stops the node's event loop
// (which carries every customer's audio): PGlite in the node's own process,
// as before, against PGlite in its own process (EmbeddedPostgres). The query
// is the size of a wall's 30-day trends over a large history.
//
//   cd records && npx tsx bench/embedded-stall.bench.ts     # ROWS=2000000
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { PGlite } from "@electric-sql/pglite";
import postgres from "postgres";
import { EmbeddedPostgres } from "../src/db/EmbeddedPostgres.ts";

const ROWS = Number(process.env.ROWS ?? 2_000_000);
const QUERY = `select count(*), avg(g % 97) from generate_series(1, ${ROWS}) g`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "parley-stall-"));

async function measure(label: string, run: () => Promise<unknown>) {
  await run(); // warm
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  // A 20 ms audio timer, as the media plane has: how late does it fire?
  let worstLateMs = 0;
  let expected = performance.now() + 20;
  const timer = setInterval(() => {
    const now = performance.now();
    worstLateMs = Math.max(worstLateMs, now - expected);
    expected = now + 20;
  }, 20);
  const started = performance.now();
  for (let i = 0; i < 5; i++) {
    await run();
    await new Promise((r) => setTimeout(r, 50)); // the node also has other work between queries
  }
  const perQuery = (performance.now() - started) / 5 - 50;
  clearInterval(timer);
  worstLateMs = Math.max(worstLateMs, performance.now() - expected);
  delay.disable();
  console.log(
    `${label.padEnd(28)} query ${perQuery.toFixed(0)} ms; event loop delay max ${(delay.max / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms; a 20 ms timer up to ${worstLateMs.toFixed(1)} ms late`,
  );
}

try {
  const inProcess = await PGlite.create(path.join(dir, "in-process"));
  await measure("PGlite in the node's process", () => inProcess.query(QUERY));
  await inProcess.close();

  const embedded = await EmbeddedPostgres.start(path.join(dir, "own-process"));
  const sql = postgres({ host: embedded.host, port: embedded.port, user: "postgres", max: 1, onnotice: () => {} });
  await measure("PGlite in its own process", () => sql.unsafe(QUERY));
  await sql.end({ timeout: 5 });
  await embedded.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
